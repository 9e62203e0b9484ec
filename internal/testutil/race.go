package testutil

import (
	"fmt"
	"net/http"
	"runtime/debug"
	"sync"
	"testing"
)

// Race runs fn(0), …, fn(n-1) in n goroutines held at one start gate and
// released together, waits for all of them and returns their results in
// index order. fn runs off the test goroutine, so it must not call
// t.Fatal, t.FailNow or anything that may (Send, Expect, the Must helpers):
// it returns what happened (e.g. TrySend's answer) and the test asserts
// on the results afterwards. A panic in fn fails the test here, after
// every goroutine has ended.
func Race[R any](t testing.TB, n int, fn func(i int) R) []R {
	t.Helper()
	out := make([]R, n)
	panics := make([]string, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			defer func() {
				if p := recover(); p != nil {
					panics[i] = fmt.Sprintf("%v\n%s", p, debug.Stack())
				}
			}()
			<-start
			out[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	for i, p := range panics {
		if p != "" {
			t.Fatalf("testutil.Race: call %d panicked: %s", i, p)
		}
	}
	return out
}

// RaceSend sends the n requests that req returns at once (see Race) and
// returns the answers in index order; after all have ended it fails the
// test if one could not be sent or its body was not an envelope.
func RaceSend(t testing.TB, n int, req func(i int) (http.Handler, Request)) []*Response {
	t.Helper()
	type sent struct {
		res *Response
		err error
	}
	rs := Race(t, n, func(i int) sent {
		h, r := req(i)
		res, err := TrySend(h, r)
		return sent{res, err}
	})
	out := make([]*Response, n)
	for i, r := range rs {
		if r.err != nil {
			t.Fatalf("request %d: %v", i, r.err)
		}
		out[i] = r.res
	}
	return out
}
