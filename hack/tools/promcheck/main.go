// Command promcheck evaluates zz's alert rules and Grafana dashboard queries
// with Prometheus's own PromQL engine over metrics scraped from the running
// servers (the e2e suite's TestMonitoring captures them): every expression
// must parse, every selector must match scraped series, every dashboard query
// must return data, and exactly the expected alerts fire.
//
//	promcheck -rules prometheusrule.yaml -dashboard dashboard.json -scrapes scrapes.json -firing ZZGPUPodOverRequest
//
// The scrapes are laid out at the times they were taken; then, to give the
// alerts' "for" clauses time to pass, the last scrape of each target is
// repeated every 30 s for -hold. Dashboard queries are evaluated at the last
// real scrape, alerts at the end of the hold.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"sigs.k8s.io/yaml"
)

// Scrape is one real scrape of one target.
type Scrape struct {
	// Target labels as Prometheus would attach them (job, instance,
	// namespace, pod, node...).
	Target      map[string]string `json:"target"`
	HonorLabels bool              `json:"honorLabels"`
	// Seconds since the first scrape.
	At   float64 `json:"at"`
	Body string  `json:"body"`
	// Down marks a failed scrape: up is 0 and the body is ignored.
	Down bool `json:"down,omitempty"`
}

type rule struct {
	Alert  string `json:"alert"`
	Record string `json:"record"`
	Expr   string `json:"expr"`
	For    string `json:"for"`
}

type ruleFile struct {
	Spec struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []rule `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

type dashboard struct {
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

const step = 30 * time.Second

func main() {
	rulesPath := flag.String("rules", "", "PrometheusRule YAML")
	dashPath := flag.String("dashboard", "", "Grafana dashboard JSON")
	scrapesPath := flag.String("scrapes", "", "JSON list of scrapes")
	firing := flag.String("firing", "", "comma-separated alerts that must fire; every other must not")
	hold := flag.Duration("hold", 35*time.Minute, "how long the last scrapes are repeated before alerts are evaluated")
	flag.Parse()
	if err := run(*rulesPath, *dashPath, *scrapesPath, *firing, *hold); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(rulesPath, dashPath, scrapesPath, firing string, hold time.Duration) error {
	var scrapes []Scrape
	if err := readJSON(scrapesPath, &scrapes); err != nil {
		return err
	}
	var rf ruleFile
	raw, err := os.ReadFile(rulesPath)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(raw, &rf); err != nil {
		return fmt.Errorf("%s: %w", rulesPath, err)
	}
	var dash dashboard
	if err := readJSON(dashPath, &dash); err != nil {
		return err
	}

	dir, err := os.MkdirTemp("", "promcheck")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	opts := tsdb.DefaultOptions()
	opts.OutOfOrderTimeWindow = int64(24 * time.Hour / time.Millisecond)
	db, err := tsdb.Open(dir, nil, nil, opts, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	start := time.Unix(1_800_000_000, 0)
	last, err := load(db, scrapes, start, hold)
	if err != nil {
		return err
	}
	end := last.Add(hold)

	ctx := context.Background()
	eng := promql.NewEngine(promql.EngineOpts{MaxSamples: 10_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	p := parser.NewParser(parser.Options{})
	var problems []string
	eval := func(expr string, at time.Time) (promql.Vector, error) {
		q, err := eng.NewInstantQuery(ctx, db, nil, expr, at)
		if err != nil {
			return nil, err
		}
		defer q.Close()
		res := q.Exec(ctx)
		if res.Err != nil {
			return nil, res.Err
		}
		switch v := res.Value.(type) {
		case promql.Vector:
			return v, nil
		case promql.Scalar:
			return promql.Vector{{T: v.T, F: v.V}}, nil
		}
		return nil, fmt.Errorf("result of type %s", res.Value.Type())
	}
	// checkSelectors reports selectors that match no scraped series: a
	// misspelt metric or label would make an expression silently empty.
	checkSelectors := func(what, expr string) {
		e, err := p.ParseExpr(expr)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", what, err))
			return
		}
		for _, ms := range parser.ExtractSelectors(e) {
			q, err := db.Querier(0, math.MaxInt64)
			if err != nil {
				problems = append(problems, err.Error())
				return
			}
			ss := q.Select(ctx, false, nil, ms...)
			n := 0
			for ss.Next() {
				n++
			}
			q.Close()
			if n == 0 {
				problems = append(problems, fmt.Sprintf("%s: selector %v matches no scraped series", what, ms))
			}
		}
	}

	for _, pan := range dash.Panels {
		for _, t := range pan.Targets {
			expr := strings.NewReplacer(`"$namespace"`, `".*"`, `"$app"`, `".*"`).Replace(t.Expr)
			what := fmt.Sprintf("dashboard %q: %s", pan.Title, t.Expr)
			checkSelectors(what, expr)
			v, err := eval(expr, last)
			switch {
			case err != nil:
				problems = append(problems, fmt.Sprintf("%s: %v", what, err))
			case len(v) == 0:
				problems = append(problems, what+": no data")
			default:
				fmt.Printf("ok   %s -> %s\n", what, short(v))
			}
		}
	}

	want := map[string]bool{}
	for _, a := range strings.Split(firing, ",") {
		if a != "" {
			want[a] = true
		}
	}
	seen := map[string]bool{}
	for _, g := range rf.Spec.Groups {
		for _, r := range g.Rules {
			name := r.Alert + r.Record
			seen[name] = true
			checkSelectors("rule "+name, r.Expr)
			forDur := time.Duration(0)
			if r.For != "" {
				d, err := model.ParseDuration(r.For)
				if err != nil {
					problems = append(problems, fmt.Sprintf("rule %s: for %q: %v", name, r.For, err))
					continue
				}
				forDur = time.Duration(d)
			}
			// Pending for the whole "for": the expression holds at every
			// evaluation from end-for to end.
			fires, err := holds(eval, r.Expr, end.Add(-forDur), end)
			if err != nil {
				problems = append(problems, fmt.Sprintf("rule %s: %v", name, err))
				continue
			}
			state := "silent"
			if len(fires) > 0 {
				state = "FIRING " + short(fires)
			}
			fmt.Printf("%-6s %s (for %s): %s\n", map[bool]string{true: "ok", false: "FAIL"}[(len(fires) > 0) == want[name]], name, r.For, state)
			if (len(fires) > 0) != want[name] {
				problems = append(problems, fmt.Sprintf("alert %s: %s, want firing=%v", name, state, want[name]))
			}
		}
	}
	for a := range want {
		if !seen[a] {
			problems = append(problems, "no alert "+a)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%d problems:\n  %s", len(problems), strings.Join(problems, "\n  "))
	}
	return nil
}

// holds returns the series for which expr is non-empty at every step from
// from to to.
func holds(eval func(string, time.Time) (promql.Vector, error), expr string, from, to time.Time) (promql.Vector, error) {
	var out promql.Vector
	keep := map[string]bool{}
	first := true
	for t := to; !t.Before(from); t = t.Add(-step) {
		v, err := eval(expr, t)
		if err != nil {
			return nil, err
		}
		now := map[string]bool{}
		for _, s := range v {
			now[s.Metric.String()] = true
		}
		if first {
			keep, out, first = now, v, false
			continue
		}
		for k := range keep {
			if !now[k] {
				delete(keep, k)
			}
		}
	}
	return slices.DeleteFunc(out, func(s promql.Sample) bool { return !keep[s.Metric.String()] }), nil
}

// load appends the scrapes at their times, then repeats each target's last
// scrape every step for hold. It returns the time of the last real scrape.
func load(db *tsdb.DB, scrapes []Scrape, start time.Time, hold time.Duration) (time.Time, error) {
	var last time.Time
	latest := map[string]Scrape{}
	app := db.Appender(context.Background())
	for _, s := range scrapes {
		at := start.Add(time.Duration(s.At * float64(time.Second)))
		if at.After(last) {
			last = at
		}
		if err := appendScrape(app, s, at); err != nil {
			return last, err
		}
		k := labels.FromMap(s.Target).String()
		if l, ok := latest[k]; !ok || s.At >= l.At {
			latest[k] = s
		}
	}
	for t := last.Add(step); !t.After(last.Add(hold)); t = t.Add(step) {
		for _, s := range latest {
			if err := appendScrape(app, s, t); err != nil {
				return last, err
			}
		}
	}
	return last, app.Commit()
}

// appendScrape adds one scrape's samples with its target's labels, as
// Prometheus does: honor_labels keeps the scraped value of a label both
// carry, otherwise the target's wins and the scraped one becomes
// exported_<name>. An up sample of 1 marks the successful scrape (0 a
// failed one, Down, with no other sample).
func appendScrape(app storage.Appender, s Scrape, at time.Time) error {
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(s.Body))
	if err != nil {
		return fmt.Errorf("scrape of %v: %w", s.Target, err)
	}
	ts := at.UnixMilli()
	add := func(name string, scraped map[string]string, v float64) error {
		b := labels.NewBuilder(labels.EmptyLabels())
		for k, val := range s.Target {
			b.Set(k, val)
		}
		for k, val := range scraped {
			if _, clash := s.Target[k]; clash && !s.HonorLabels {
				k = "exported_" + k
			}
			b.Set(k, val)
		}
		b.Set(labels.MetricName, name)
		_, err := app.Append(0, b.Labels(), ts, v)
		return err
	}
	if s.Down {
		return add("up", nil, 0)
	}
	if err := add("up", nil, 1); err != nil {
		return err
	}
	names := make([]string, 0, len(mfs))
	for n := range mfs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		mf := mfs[n]
		for _, m := range mf.GetMetric() {
			ls := map[string]string{}
			for _, l := range m.GetLabel() {
				ls[l.GetName()] = l.GetValue()
			}
			with := func(k, v string) map[string]string {
				out := map[string]string{k: v}
				for a, b := range ls {
					out[a] = b
				}
				return out
			}
			var err error
			switch {
			case m.Counter != nil:
				err = add(n, ls, m.GetCounter().GetValue())
			case m.Gauge != nil:
				err = add(n, ls, m.GetGauge().GetValue())
			case m.Untyped != nil:
				err = add(n, ls, m.GetUntyped().GetValue())
			case m.Histogram != nil:
				h := m.GetHistogram()
				for _, b := range h.GetBucket() {
					if err = add(n+"_bucket", with("le", model.FloatString(b.GetUpperBound()).String()), float64(b.GetCumulativeCount())); err != nil {
						return err
					}
				}
				if err = add(n+"_bucket", with("le", "+Inf"), float64(h.GetSampleCount())); err != nil {
					return err
				}
				if err = add(n+"_sum", ls, h.GetSampleSum()); err != nil {
					return err
				}
				err = add(n+"_count", ls, float64(h.GetSampleCount()))
			case m.Summary != nil:
				sm := m.GetSummary()
				for _, q := range sm.GetQuantile() {
					if err = add(n, with("quantile", model.FloatString(q.GetQuantile()).String()), q.GetValue()); err != nil {
						return err
					}
				}
				if err = add(n+"_sum", ls, sm.GetSampleSum()); err != nil {
					return err
				}
				err = add(n+"_count", ls, float64(sm.GetSampleCount()))
			}
			if err != nil {
				return fmt.Errorf("%s%v: %w", n, ls, err)
			}
		}
	}
	return nil
}

func short(v promql.Vector) string {
	var parts []string
	for i, s := range v {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("... (%d series)", len(v)))
			break
		}
		parts = append(parts, fmt.Sprintf("%s=%g", s.Metric, s.F))
	}
	return strings.Join(parts, ", ")
}

func readJSON(path string, out any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
