package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// firstError keeps the first of the errors of concurrent requests (whatever their types).
type firstError struct{ p atomic.Pointer[error] }

func (f *firstError) set(err error) { f.p.CompareAndSwap(nil, &err) }

func (f *firstError) get() error {
	if p := f.p.Load(); p != nil {
		return *p
	}
	return nil
}

// benchFigure is one number a run measured; the runs are summed up by each figure's
// median.
type benchFigure struct {
	name  string
	value float64
	unit  string // "/s", "ms", "cores", or "" for a count
}

// benchFigures are a run's figures, in the order they were measured.
type benchFigures []benchFigure

func (f *benchFigures) add(name string, value float64, unit string) {
	*f = append(*f, benchFigure{name: name, value: value, unit: unit})
}

func (f benchFigure) format(v float64) string {
	switch f.unit {
	case "/s":
		return fmt.Sprintf("%.0f/s", v)
	case "ms":
		return fmt.Sprintf("%.2f ms", v)
	case "":
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f %s", v, f.unit)
}

// printMedians prints, for each figure, its median over the runs and every run's value.
func printMedians(w io.Writer, runs []benchFigures) {
	var order []benchFigure
	values := map[string][]float64{}
	for _, figs := range runs {
		for _, f := range figs {
			if _, ok := values[f.name]; !ok {
				order = append(order, f)
			}
			values[f.name] = append(values[f.name], f.value)
		}
	}
	width := 0
	for _, f := range order {
		width = max(width, len(f.name))
	}
	for _, f := range order {
		vs := values[f.name]
		each := make([]string, len(vs))
		for i, v := range vs {
			each[i] = f.format(v)
		}
		fmt.Fprintf(w, "  %-*s  %12s   (runs: %s)\n", width, f.name, f.format(median(vs)), strings.Join(each, ", "))
	}
}

// median returns the middle value of vs (the mean of the two middle ones for an even
// count); vs is not changed.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// pct returns the p-th percentile (nearest rank) of ds, which it sorts.
func pct(ds []time.Duration, p float64) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	if len(ds) == 0 {
		return 0
	}
	i := int(float64(len(ds))*p/100+0.5) - 1
	i = max(0, min(i, len(ds)-1))
	return ds[i].Round(10 * time.Microsecond)
}

// ms converts a duration to milliseconds, for figures.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// loadAverage returns the box's load averages (1, 5, 15 minutes): on a shared box, the
// first thing to look at when a run is slower than the others.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
