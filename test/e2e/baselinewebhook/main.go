// baselinewebhook is TestBenchWebhook's baseline: a mutating webhook that
// allows every review unchanged, or with one fixed JSON patch (--patch), served
// in a process of its own over HTTPS and HTTP/1.1, as zz-webhook is. In the
// test's own process it shared a busy runtime with the benchmark's client and
// never paid the wake-up and scheduling of a separate server, which flattered
// the baseline.
package main

import (
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve HTTPS on")
	cert := flag.String("cert", "", "serving certificate (PEM)")
	key := flag.String("key", "", "serving key (PEM)")
	patch := flag.String("patch", "", "a JSON patch to answer every review with; empty allows it unchanged")
	flag.Parse()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("POST /mutate-pods", func(w http.ResponseWriter, r *http.Request) {
		var review admissionv1.AdmissionReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
			http.Error(w, "bad review", http.StatusBadRequest)
			return
		}
		review.Response = &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
		if *patch != "" {
			pt := admissionv1.PatchTypeJSONPatch
			review.Response.Patch, review.Response.PatchType = []byte(*patch), &pt
		}
		review.Request = nil
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(&review)
	})
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	srv := &http.Server{Addr: *listen, Handler: mux, Protocols: &protocols}
	log.Fatal(srv.ListenAndServeTLS(*cert, *key))
}
