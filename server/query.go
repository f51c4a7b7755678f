package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/quiredb/quire"
)

// queryBodyLimit is the most a query request may carry: room for a
// 1000-value $in and a long cursor.
const queryBodyLimit = 1 << 20

func (s *Server) handleQuery(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	body, err := readBody(w, r, queryBodyLimit)
	if err != nil {
		return err
	}
	q, err := decodeQuery(body)
	if err != nil {
		return err
	}
	q.Collection = r.PathValue("coll")
	q.Since, q.NoCache = tr.after, noCache(r)
	pos := tr.store.Position()
	start := time.Now()
	res, err := tr.store.Query(r.Context(), q)
	if err != nil {
		return err
	}
	setCacheStatus(w, res.Cache)
	elapsed := time.Since(start)
	setBookmark(w, tr.store, pos)
	meta := queryMeta{RowsRead: res.RowsRead, DurationMS: durationMS(elapsed), Scan: res.Scan, Bookmark: tr.store.FormatBookmark(pos)}
	if q.Explain {
		return writeJSON(w, http.StatusOK, map[string]any{"plan": res.Plan, "sql": res.SQL, "meta": meta})
	}
	buf := takeResponseBuffer(querySize(res.Docs) + len(res.Next))
	defer giveBackResponseBuffer(buf)
	b := append(*buf, `{"docs":[`...)
	for i := range res.Docs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendQueryDoc(b, &res.Docs[i], q.Join)
	}
	b = append(b, `],"next":`...)
	b = strconv.AppendQuote(b, res.Next)
	if res.Count != nil {
		b = append(b, `,"count":`...)
		b = strconv.AppendInt(b, *res.Count, 10)
	}
	mb, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	b = append(append(append(b, `,"meta":`...), mb...), "}\n"...)
	writeRaw(w, http.StatusOK, b)
	*buf = b
	return nil
}

// queryMeta is the meta object of a query response.
type queryMeta struct {
	RowsRead   int64   `json:"rows_read"`
	DurationMS float64 `json:"duration_ms"`
	Scan       bool    `json:"scan"`
	Bookmark   string  `json:"bookmark"`
}

// durationMS is d in milliseconds, to the microsecond.
func durationMS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// decodeQuery reads a query body strictly: unknown keys are refused, and
// the filter's own errors come through with their messages.
func decodeQuery(body []byte) (quire.Query, error) {
	var q quire.Query
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return q, quire.Errorf(quire.EInvalid, "request body is empty; expected a JSON query such as {\"where\": {...}}")
	}
	if trimmed[0] != '{' {
		return q, quire.Errorf(quire.EInvalid, "the query must be a JSON object such as {\"where\": {...}}")
	}
	return q, unmarshalStrict(body, &q)
}

// appendQueryDoc encodes a document like appendDocument, its stored body
// spliced in as is, followed by one key per join holding the array SQLite
// built.
func appendQueryDoc(b []byte, d *quire.QueryDoc, joins []quire.Join) []byte {
	b = appendDocument(b, &d.Document)
	if len(d.Joins) == 0 {
		return b
	}
	b = b[:len(b)-1] // reopen the object appendDocument closed
	for i, j := range d.Joins {
		as := joins[i].As
		if as == "" {
			as = joins[i].Collection
		}
		b = append(b, ',')
		b = strconv.AppendQuote(b, as)
		b = append(b, ':')
		b = append(b, j...)
	}
	return append(b, '}')
}
