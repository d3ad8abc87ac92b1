package webhook

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/zzcloud/zz/internal/contract"
)

// A pod the apiserver accepts may still make a review over MaxBodyBytes:
// by the time the webhook is called the apiserver has defaulted every
// container (terminationMessagePath, imagePullPolicy, the token mount), and
// a 1.5 MB pod of 2000 native sidecars became a 4.7 MB review (a
// hostile-tenant audit). A bare 413 reaches its author as "did not return
// more information", so such a review is answered with a refusal that
// says why, which needs its uid. The uid and the container count are found
// by scanning the body as it streams (oversizeScan: a few KiB of state, no
// copy of the body), up to oversizeScanFactor times MaxBodyBytes (8 MiB by
// default, past the 5.3 MB review of the audit's 1 MB pod of 8000
// sidecars); reviews beyond that, or while maxOversizeScans are being
// scanned, still get the bare 413 unread (TestWebhookBurst: a declared
// 10 MiB is answered before its body is sent).
const (
	oversizeScanFactor = 2
	maxOversizeScans   = 2
	// maxScanDepth bounds the scanner's stack (a pod nests about 12 deep).
	maxScanDepth = 256
)

// oversize is what a review too large to decode says of itself.
type oversize struct {
	uid        types.UID
	containers int // containers, init and ephemeral ones of request.object
}

// frame is one open object or array of the scan.
type frame struct {
	array   bool
	key     string // the object's current key (its first 64 bytes)
	wantKey bool
	n       int // an array's elements so far
}

// scanOversize reads a JSON AdmissionReview from r to its end and returns
// request.uid and how many containers request.object.spec lists, keeping
// only its open objects and arrays (at most maxScanDepth) and their keys.
// It does not validate the JSON beyond what it needs: a body that is not a
// review has no uid, and the caller answers it as before.
func scanOversize(r io.Reader) (oversize, error) {
	br := bufio.NewReaderSize(r, 32<<10)
	var (
		out   oversize
		stack []frame
		str   = make([]byte, 0, 64)
	)
	// path says whether the open frames are objects with these keys, the
	// last one's key included.
	path := func(keys ...string) bool {
		if len(stack) != len(keys) {
			return false
		}
		for i, k := range keys {
			if stack[i].array || stack[i].key != k {
				return false
			}
		}
		return true
	}
	// value counts a value starting in an array.
	value := func() {
		if n := len(stack); n > 0 && stack[n-1].array {
			stack[n-1].n++
		}
	}
	for {
		b, err := br.ReadByte()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		switch b {
		case '{', '[':
			value()
			if len(stack) == maxScanDepth {
				return out, fmt.Errorf("nested deeper than %d", maxScanDepth)
			}
			stack = append(stack, frame{array: b == '[', wantKey: b == '{'})
		case '}', ']':
			if len(stack) == 0 {
				return out, fmt.Errorf("unbalanced %q", b)
			}
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if top.array && len(stack) == 4 && stack[0].key == "request" && stack[1].key == "object" && stack[2].key == "spec" &&
				!stack[0].array && !stack[1].array && !stack[2].array && !stack[3].array {
				switch stack[3].key {
				case "containers", "initContainers", "ephemeralContainers":
					out.containers += top.n
				}
			}
		case ',':
			if n := len(stack); n > 0 && !stack[n-1].array {
				stack[n-1].wantKey = true
			}
		case ':':
		case '"':
			if str, err = readString(br, str[:0]); err != nil {
				return out, err
			}
			n := len(stack)
			switch {
			case n > 0 && !stack[n-1].array && stack[n-1].wantKey:
				stack[n-1].key, stack[n-1].wantKey = scanKey(str), false
			default:
				value()
				if path("request", "uid") {
					out.uid = types.UID(str)
				}
			}
		case ' ', '\t', '\n', '\r':
		default: // a number, true, false or null, read whole: one value
			value()
			if err := skipLiteral(br); err != nil && err != io.EOF {
				return out, err
			}
		}
	}
}

// skipLiteral reads the rest of a number, true, false or null.
func skipLiteral(br *bufio.Reader) error {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return err
		}
		switch b {
		case ',', '}', ']', ' ', '\t', '\n', '\r', ':':
			return br.UnreadByte()
		}
	}
}

var scanKeys = []string{"request", "uid", "object", "spec", "containers", "initContainers", "ephemeralContainers"}

// scanKey is key if the scan follows it, else "": no string is made for
// the pod's other keys (tens of thousands in a big pod).
func scanKey(key []byte) string {
	for _, k := range scanKeys {
		if string(key) == k {
			return k
		}
	}
	return ""
}

// readString reads a JSON string after its opening quote, appending its
// first cap(into) bytes (escapes as written) to into.
func readString(br *bufio.Reader, into []byte) ([]byte, error) {
	escaped := false
	for {
		b, err := br.ReadByte()
		if err != nil {
			return into, err
		}
		if b == '"' && !escaped {
			return into, nil
		}
		escaped = b == '\\' && !escaped
		if len(into) < cap(into) {
			into = append(into, b)
		}
	}
}

// refuseOversize answers a review over MaxBodyBytes: it scans the body for
// the uid and answers a refusal the apiserver shows its client. It returns
// false when it could not (no room to scan, the body over the scan's
// bound, or no uid in it), and the caller answers the bare 413 unread.
func (h *Handler) refuseOversize(w http.ResponseWriter, r *http.Request, size int64) bool {
	if size > oversizeScanFactor*h.Limits.MaxBodyBytes || !h.oversize.TryAcquire(1) {
		return false
	}
	defer h.oversize.Release(1)
	found, err := scanOversize(io.LimitReader(r.Body, size))
	if err != nil || found.uid == "" {
		// Read in part: the server cannot reuse the connection.
		w.Header().Set("Connection", "close")
		return false
	}
	// The prefix of every refusal of the webhook: deploy stops at it, as
	// retrying the same pod is refused alike.
	msg := contract.WebhookRefusalPrefix + fmt.Sprintf("the pod's admission review is %d bytes (%d containers); zz-webhook reads at most %d: split the pod or raise --max-review-bytes",
		size, found.containers, h.Limits.MaxBodyBytes)
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "AdmissionReview"},
		Response: &admissionv1.AdmissionResponse{UID: found.uid, Result: &metav1.Status{Status: metav1.StatusFailure,
			Code: http.StatusRequestEntityTooLarge, Reason: metav1.StatusReasonRequestEntityTooLarge, Message: msg}},
	}
	w.Header()["Content-Type"] = jsonContentType
	if err := json.NewEncoder(w).Encode(review); err != nil {
		klog.FromContext(r.Context()).V(2).Info("Could not write the reply", "uid", found.uid, "err", err)
	}
	// A pod refused, as admitPod's refusals are logged, but sampled as the
	// overload refusals: a controller retries such a pod in a loop.
	if ok, dropped := h.refusals.allow(time.Now()); ok {
		klog.FromContext(r.Context()).Info("Refused a pod whose review is too large to decode; the apiserver shows its author why",
			"uid", found.uid, "bytes", size, "containers", found.containers, "maxReviewBytes", h.Limits.MaxBodyBytes, "leftOutSinceLastLine", dropped)
	}
	return true
}
