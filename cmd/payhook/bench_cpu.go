package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of /proc's CPU times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// cpuSample is the CPU time used so far by the whole box (all cores, busy), by the bench
// itself, by the payhook serve processes and, when it runs on this box, by PostgreSQL
// (its processes by pid), read from /proc. Over a phase it tells where the two cores
// went: payhook, the load generator and receivers, PostgreSQL, or anything else (other
// users of a shared box).
type cpuSample struct {
	at               time.Time
	box, self, serve time.Duration
	pg               map[int]time.Duration
	ok               bool
}

func sampleCPU(servePids, pgPids []int) cpuSample {
	s := cpuSample{at: time.Now(), ok: true}
	var err error
	if s.box, err = boxBusy(); err != nil {
		return cpuSample{}
	}
	if s.self, err = processCPU("self"); err != nil {
		return cpuSample{}
	}
	for _, pid := range servePids {
		d, err := processCPU(strconv.Itoa(pid))
		if err != nil {
			return cpuSample{}
		}
		s.serve += d
	}
	if pgPids != nil {
		s.pg = map[int]time.Duration{}
		for _, pid := range pgPids {
			if d, err := processCPU(strconv.Itoa(pid)); err == nil { // a backend may just have ended
				s.pg[pid] = d
			}
		}
	}
	return s
}

// cpuUse is the cores used over a phase; pg is -1 when PostgreSQL's share is unknown.
type cpuUse struct {
	serve, bench, pg, rest float64
	ok                     bool
}

func (a cpuSample) until(b cpuSample) cpuUse {
	el := b.at.Sub(a.at)
	if !a.ok || !b.ok || el <= 0 {
		return cpuUse{}
	}
	cores := func(d time.Duration) float64 { return float64(d) / float64(el) }
	u := cpuUse{serve: cores(b.serve - a.serve), bench: cores(b.self - a.self), pg: -1, ok: true}
	if len(b.pg) > 0 {
		var d time.Duration
		for pid, t := range b.pg {
			d += t - a.pg[pid] // a backend started during the phase counts from 0
		}
		u.pg = cores(d)
	}
	u.rest = max(0, cores(b.box-a.box)-u.serve-u.bench-max(0, u.pg))
	return u
}

// report prints the phase's CPU use, warns when other work on the box took a share, and
// adds the figures.
func (u cpuUse) report(w io.Writer, figs *benchFigures) {
	if !u.ok {
		return
	}
	pg := ""
	if u.pg >= 0 {
		pg = fmt.Sprintf(", PostgreSQL %.2f", u.pg)
	}
	fmt.Fprintf(w, "  CPU over the phase (cores): payhook serve %.2f, bench (load generator and receivers) %.2f%s, everything else %.2f\n",
		u.serve, u.bench, pg, u.rest)
	if u.rest > 0.3 {
		fmt.Fprintf(w, "  note: other work used %.2f cores of the box during the phase: this run's figures are low\n", u.rest)
	}
	figs.add("CPU: payhook serve", u.serve, "cores")
	figs.add("CPU: bench (load generator, receivers)", u.bench, "cores")
	if u.pg >= 0 {
		figs.add("CPU: PostgreSQL", u.pg, "cores")
	}
	figs.add("CPU: everything else on the box", u.rest, "cores")
}

// brief prints the CPU use of a latency phase on one line, and a note when other work
// took a share of the box (latency suffers first).
func (u cpuUse) brief(w io.Writer, phase string) {
	if !u.ok {
		return
	}
	pg := ""
	if u.pg >= 0 {
		pg = fmt.Sprintf(", PostgreSQL %.2f", u.pg)
	}
	note := ""
	if u.rest > 0.15 {
		note = "  <- other work on the box: latency figures suffer"
	}
	fmt.Fprintf(w, "  CPU during the %s phase (cores): payhook serve %.2f, bench %.2f%s, everything else %.2f%s\n", phase, u.serve, u.bench, pg, u.rest, note)
}

// boxBusy reads the busy time of all cores from /proc/stat.
func boxBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("unexpected /proc/stat")
	}
	var busy int64
	// user nice system idle iowait irq softirq steal: all but idle and iowait.
	for i, v := range f[1:9] {
		if i == 3 || i == 4 {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, err
		}
		busy += n
	}
	return time.Duration(busy) * clockTick, nil
}

// processCPU reads a process's user and system time from /proc/<pid>/stat.
func processCPU(pid string) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: fields count
	// from after its closing parenthesis, where field 3 (state) is the first.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%s/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%s/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc/%s/stat", pid)
	}
	return time.Duration(utime+stime) * clockTick, nil
}
