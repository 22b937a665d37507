package problem_test

import (
	"fmt"
	"net/http/httptest"

	"github.com/gatekit/gatekit/internal/problem"
)

// A handler refusing a request writes the whole problem response in one
// call; the title is the status text.
func ExampleWrite() {
	rec := httptest.NewRecorder()
	problem.Write(rec, 413, "body larger than 1048576 bytes")
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	fmt.Print(rec.Body.String())
	// Output:
	// 413 application/problem+json
	// {"detail":"body larger than 1048576 bytes","status":413,"title":"Request Entity Too Large","type":"about:blank"}
}

// Extension members carry machine-readable facts beside the standard
// members; headers set before the call, such as Retry-After, are kept.
func ExampleWriteDetails() {
	rec := httptest.NewRecorder()
	rec.Header().Set("Retry-After", "30")
	problem.WriteDetails(rec, problem.Details{
		Status:     429,
		Detail:     "rate limit exceeded",
		Instance:   "req-7f3a",
		Extensions: map[string]any{"retry_after": 30},
	})
	fmt.Println(rec.Code, rec.Header().Get("Retry-After"), rec.Header().Get("Cache-Control"))
	fmt.Print(rec.Body.String())
	// Output:
	// 429 30 no-store
	// {"detail":"rate limit exceeded","instance":"req-7f3a","retry_after":30,"status":429,"title":"Too Many Requests","type":"about:blank"}
}
