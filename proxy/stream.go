package proxy

import (
	"io"
	"net/http"
	"time"
)

// idleBody is a response body that calls cancel when no byte arrives for
// d: a stalled stream is aborted instead of holding the client forever.
type idleBody struct {
	rc io.ReadCloser
	t  *time.Timer
	d  time.Duration
}

func newIdleBody(rc io.ReadCloser, d time.Duration, cancel func()) *idleBody {
	return &idleBody{rc: rc, d: d, t: time.AfterFunc(d, cancel)}
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.t.Reset(b.d)
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.t.Stop()
	return b.rc.Close()
}

// streaming arms the stream idle timeout on the response handed to the
// client, if the route has one.
func (px *Proxy) streaming(x *exchange, resp *http.Response) *http.Response {
	if resp != nil && x.idleCancel != nil && resp.StatusCode != http.StatusSwitchingProtocols {
		resp.Body = newIdleBody(resp.Body, px.idle, x.idleCancel)
	}
	return resp
}
