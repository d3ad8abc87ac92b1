package logs

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"time"
)

// Cursor is how far a stream got: the timestamp of the last line written and
// how many lines were written with exactly that timestamp. The API's sinceTime
// has one-second precision, so a reopened stream repeats part of what was seen;
// the cursor says which part.
type Cursor struct {
	Last   time.Time
	AtLast int
}

// Seen reports whether a line was already written.
func (c *Cursor) Seen() bool { return !c.Last.IsZero() }

// advance records a written line stamped ts.
func (c *Cursor) advance(ts time.Time) {
	if ts.Equal(c.Last) {
		c.AtLast++
		return
	}
	c.Last, c.AtLast = ts, 1
}

// EmitFunc receives one complete line: its parsed timestamp (zero if the line
// had none), the timestamp as sent, and the message without the newline. The
// slices are only valid during the call.
type EmitFunc func(ts time.Time, stamp, msg []byte) error

// maxLine caps one log line; longer lines are cut (the rest is dropped), as a
// follower must not buffer without bound.
const maxLine = 1 << 20

// readBuffer is each stream's read buffer; longer lines are assembled.
const readBuffer = 16 << 10

// Consume reads a stream requested with timestamps=true, one
// "<RFC3339Nano> <message>\n" per line, and calls emit for every line the
// cursor has not seen, advancing it. Lines stamped before cur.Last are dropped,
// and so are the first cur.AtLast lines stamped exactly cur.Last (they were
// written before the stream broke). A trailing fragment without a newline is
// not emitted: the stream broke inside it, and the reopened stream sends it
// whole. idle (optional) is called whenever every byte received so far is
// handled, before a read that may wait: the caller writes out what it batched.
// Consume returns nil at a clean end of stream, the read error otherwise, or
// emit's or idle's error.
func Consume(r io.Reader, cur *Cursor, emit EmitFunc, idle func() error) error {
	br := bufio.NewReaderSize(r, readBuffer)
	from, skip := cur.Last, cur.AtLast
	resuming := cur.Seen()
	var long []byte // a line longer than the reader's buffer
	for {
		if idle != nil && br.Buffered() == 0 {
			if err := idle(); err != nil {
				return err
			}
		}
		chunk, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(long) < maxLine {
				long = append(long, chunk[:min(len(chunk), maxLine-len(long))]...)
			}
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		line := chunk[:len(chunk)-1]
		if long != nil {
			if len(long) < maxLine {
				long = append(long, line[:min(len(line), maxLine-len(long))]...)
			}
			line, long = long, nil
		}
		ts, stamp, msg := splitStamp(line)
		if ts.IsZero() {
			if err := emit(ts, nil, msg); err != nil {
				return err
			}
			continue
		}
		if resuming {
			if ts.Before(from) {
				continue
			}
			if ts.Equal(from) && skip > 0 {
				skip--
				continue
			}
			resuming = false
		}
		if err := emit(ts, stamp, msg); err != nil {
			return err
		}
		cur.advance(ts)
	}
}

// splitStamp splits "<RFC3339Nano> <message>"; a line without a timestamp
// is all message, with a zero time.
func splitStamp(line []byte) (time.Time, []byte, []byte) {
	i := bytes.IndexByte(line, ' ')
	if i < 0 {
		i = len(line)
	}
	ts, err := time.Parse(time.RFC3339Nano, string(line[:i]))
	if err != nil {
		return time.Time{}, nil, line
	}
	msg := line[i:]
	if len(msg) > 0 {
		msg = msg[1:]
	}
	return ts, line[:i], msg
}
