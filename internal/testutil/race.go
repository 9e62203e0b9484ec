package testutil

import (
	"fmt"
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
