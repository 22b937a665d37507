package proxy

import (
	"context"
	"strconv"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// BenchmarkGRPC measures unary calls and bidirectional stream messages
// (one message each way per op) through a Proxy with an h2c target,
// against the same calls made to the target directly; all three
// processes' work (client, proxy, grpc-go server) shares the machine.
func BenchmarkGRPC(b *testing.B) {
	be := newGRPCBackend(b, "a")
	px, _ := grpcProxy(b, Config{}, be.addr)
	conns := map[string]*grpc.ClientConn{"direct": dialGRPC(b, be.addr), "gateway": grpcGateway(b, px)}
	for _, via := range []string{"direct", "gateway"} {
		cc := conns[via]
		b.Run("unary/"+via, func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := unary(ctx, cc, "x"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		b.Run("stream/"+via, func(b *testing.B) {
			b.ReportAllocs()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			st, err := newStream(ctx, cc, "Bidi")
			if err != nil {
				b.Fatal(err)
			}
			msg := wrapperspb.String(strconv.Itoa(42))
			in := new(wrapperspb.StringValue)
			for b.Loop() {
				if err := st.SendMsg(msg); err != nil {
					b.Fatal(err)
				}
				if err := st.RecvMsg(in); err != nil {
					b.Fatal(err)
				}
			}
			st.CloseSend()
			st.RecvMsg(in)
		})
	}
}
