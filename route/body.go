package route

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// bodyState holds the inspected prefix of one request's body, read at most
// once per request however many rules have Body predicates.
type bodyState struct {
	read   bool
	data   []byte // the bytes read
	full   bool   // data is the whole body
	err    error  // a read error other than EOF, returned again to the next reader
	orig   io.ReadCloser
	lookup map[string]jsonResult // pointer -> result
}

type jsonResult struct {
	val   jsonValue
	found bool
}

// load reads up to limit+1 bytes of the body once.
func (bs *bodyState) load(r *http.Request, limit int64) {
	if bs.read {
		return
	}
	bs.read = true
	bs.orig = r.Body
	if r.Body == nil || r.Body == http.NoBody {
		bs.full = true
		return
	}
	if r.ContentLength > limit {
		// Do not read what cannot be inspected; restore keeps r.Body as is.
		bs.orig = nil
		return
	}
	bs.data, bs.err = io.ReadAll(io.LimitReader(r.Body, limit+1))
	bs.full = bs.err == nil && int64(len(bs.data)) <= limit
}

// restore puts back a body that yields exactly the original bytes.
func (bs *bodyState) restore(r *http.Request) {
	if bs.orig == nil || bs.orig == http.NoBody {
		return
	}
	data := bs.data
	var rd io.Reader = bytes.NewReader(data)
	switch {
	case bs.err != nil:
		rd = io.MultiReader(rd, errReader{bs.err})
	case bs.full:
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	default:
		rd = io.MultiReader(rd, bs.orig)
	}
	r.Body = readCloser{rd, bs.orig}
}

type readCloser struct {
	io.Reader
	io.Closer
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// bodyPred is a compiled Body predicate.
type bodyPred struct {
	pointer string
	tokens  []ptrToken
	pred    cpred
}

type ptrToken struct {
	key string
	idx int // the array index the token names, or -1
}

func compileBodyPred(p Predicate) (bodyPred, error) {
	toks, err := parsePointer(p.Name)
	if err != nil {
		return bodyPred{}, fmt.Errorf("body pointer %q: %w", p.Name, err)
	}
	cp, err := compilePred(p)
	if err != nil {
		return bodyPred{}, fmt.Errorf("body %q: %w", p.Name, err)
	}
	return bodyPred{pointer: p.Name, tokens: toks, pred: cp}, nil
}

// parsePointer parses an RFC 6901 JSON pointer.
func parsePointer(s string) ([]ptrToken, error) {
	if s == "" {
		return nil, nil
	}
	if s[0] != '/' {
		return nil, errors.New("must be empty or start with '/'")
	}
	var out []ptrToken
	for _, raw := range strings.Split(s[1:], "/") {
		var sb strings.Builder
		for i := 0; i < len(raw); i++ {
			if raw[i] != '~' {
				sb.WriteByte(raw[i])
				continue
			}
			if i+1 >= len(raw) || (raw[i+1] != '0' && raw[i+1] != '1') {
				return nil, errors.New("'~' must be followed by 0 or 1")
			}
			sb.WriteByte("~/"[raw[i+1]-'0'])
			i++
		}
		tok := ptrToken{key: sb.String(), idx: -1}
		if n, err := strconv.Atoi(tok.key); err == nil && n >= 0 && strconv.Itoa(n) == tok.key {
			tok.idx = n
		}
		out = append(out, tok)
	}
	return out, nil
}

// test evaluates the predicate against r's JSON body.
func (bp *bodyPred) test(r *http.Request, bs *bodyState, cfg *Config) bool {
	bs.load(r, cfg.MaxBodyInspect)
	if !bs.full || len(bs.data) == 0 {
		return false
	}
	res, ok := bs.lookup[bp.pointer]
	if !ok {
		w := walker{dec: json.NewDecoder(bytes.NewReader(bs.data)), max: cfg.MaxJSONDepth, ptr: bp.tokens}
		w.dec.UseNumber()
		if err := w.document(); err == nil {
			res = jsonResult{val: w.val, found: w.found}
		} else {
			res = jsonResult{val: jsonValue{kind: jsonInvalid}}
		}
		if bs.lookup == nil {
			bs.lookup = map[string]jsonResult{}
		}
		bs.lookup[bp.pointer] = res
	}
	if res.val.kind == jsonInvalid {
		return false
	}
	if res.val.kind == jsonContainer {
		return bp.pred.op == Present
	}
	return bp.pred.test(res.val.text, res.found)
}

type jsonKind int

const (
	jsonScalar jsonKind = iota
	jsonContainer
	jsonInvalid
)

type jsonValue struct {
	kind jsonKind
	text string // decoded string, or the literal of a number, bool or null
}

// walker streams a JSON document and records the value at ptr. It rejects
// documents deeper than max, trailing data, and objects on the pointer's
// path with two keys equal to the pointer token ignoring case (which
// encoding/json would resolve differently from a first-key reader).
type walker struct {
	dec   *json.Decoder
	max   int
	ptr   []ptrToken
	found bool
	val   jsonValue
}

var (
	errTooDeep   = errors.New("route: JSON too deep")
	errDuplicate = errors.New("route: duplicate JSON key")
	errTrailing  = errors.New("route: data after JSON value")
)

func (w *walker) document() error {
	if err := w.value(0, true); err != nil {
		return err
	}
	if _, err := w.dec.Token(); err != io.EOF {
		return errTrailing
	}
	return nil
}

// value consumes one value at the given depth; onPath means it is the
// value at w.ptr[:depth].
func (w *walker) value(depth int, onPath bool) error {
	tok, err := w.dec.Token()
	if err != nil {
		return err
	}
	target := onPath && depth == len(w.ptr)
	d, isDelim := tok.(json.Delim)
	if !isDelim {
		if target {
			w.found = true
			switch v := tok.(type) {
			case string:
				w.val = jsonValue{text: v}
			case json.Number:
				w.val = jsonValue{text: string(v)}
			case bool:
				w.val = jsonValue{text: strconv.FormatBool(v)}
			default:
				w.val = jsonValue{text: "null"}
			}
		}
		return nil
	}
	if depth+1 > w.max {
		return errTooDeep
	}
	if target {
		w.found = true
		w.val = jsonValue{kind: jsonContainer}
	}
	descend := onPath && depth < len(w.ptr)
	if d == '{' {
		seen := 0
		for w.dec.More() {
			kt, err := w.dec.Token()
			if err != nil {
				return err
			}
			key, _ := kt.(string)
			next := false
			if descend && strings.EqualFold(key, w.ptr[depth].key) {
				if seen++; seen > 1 {
					return errDuplicate
				}
				next = key == w.ptr[depth].key
			}
			if err := w.value(depth+1, next); err != nil {
				return err
			}
		}
	} else {
		for i := 0; w.dec.More(); i++ {
			if err := w.value(depth+1, descend && i == w.ptr[depth].idx); err != nil {
				return err
			}
		}
	}
	_, err = w.dec.Token() // the closing delimiter
	return err
}
