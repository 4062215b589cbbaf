package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sirupsen/logrus"

	"github.com/tmsync/tmsync/tmsync"
)

// The values --log-level and --log-format take, in any case, white space around them
// ignored; "" is the default (no log; text). checkArgs refuses any other before anything
// is created; newLogger reads them with the same functions.
const (
	logLevels  = "debug, info, warn (or warning) or error"
	logFormats = "text or json"
)

// parseLogLevel reads --log-level: off is "" (no log).
func parseLogLevel(s string) (lvl slog.Level, off bool, err error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return 0, true, nil
	case "debug":
		return slog.LevelDebug, false, nil
	case "info":
		return slog.LevelInfo, false, nil
	case "warn", "warning":
		return slog.LevelWarn, false, nil
	case "error":
		return slog.LevelError, false, nil
	}
	return 0, false, fmt.Errorf("--log-level %q: want %s", s, logLevels)
}

// parseLogFormat reads --log-format: json, else text.
func parseLogFormat(s string) (asJSON bool, err error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "text":
		return false, nil
	case "json":
		return true, nil
	}
	return false, fmt.Errorf("--log-format %q: want %s", s, logFormats)
}

// newLogger is the logger of --log-level and --log-format, on w, through red. Level ""
// is no logging: the console lines on stdout say what happened. containers/image's logrus
// records go to the same logger.
func newLogger(level, format string, w io.Writer, red *tmsync.Redactor) (*slog.Logger, error) {
	lvl, off, err := parseLogLevel(level)
	if err != nil {
		return nil, err
	}
	asJSON, err := parseLogFormat(format)
	if err != nil {
		return nil, err
	}
	if off {
		logrusTo.Store(nil)
		return slog.New(slog.NewTextHandler(io.Discard, nil)), nil
	}
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if asJSON {
		h = slog.NewJSONHandler(w, opts)
	}
	logger := slog.New(red.Handler(h))
	routeLogrus(logger, lvl)
	return logger, nil
}

// logrusTo is the logger containers/image's logrus records go to; nil drops them.
var (
	logrusTo   atomic.Pointer[slog.Logger]
	logrusOnce sync.Once
)

// routeLogrus sends the global logrus logger (containers/image's) to logger, from lvl up.
func routeLogrus(logger *slog.Logger, lvl slog.Level) {
	logrusTo.Store(logger)
	logrusOnce.Do(func() {
		logrus.AddHook(logrusHook{})
		logrus.SetOutput(io.Discard)
	})
	switch {
	case lvl <= slog.LevelDebug:
		logrus.SetLevel(logrus.DebugLevel)
	case lvl <= slog.LevelInfo:
		logrus.SetLevel(logrus.InfoLevel)
	case lvl <= slog.LevelWarn:
		logrus.SetLevel(logrus.WarnLevel)
	default:
		logrus.SetLevel(logrus.ErrorLevel)
	}
}

// logrusHook passes a logrus entry to logrusTo as a slog record.
type logrusHook struct{}

func (logrusHook) Levels() []logrus.Level { return logrus.AllLevels }

func (logrusHook) Fire(e *logrus.Entry) error {
	l := logrusTo.Load()
	if l == nil {
		return nil
	}
	lvl := slog.LevelDebug
	switch {
	case e.Level <= logrus.ErrorLevel:
		lvl = slog.LevelError
	case e.Level == logrus.WarnLevel:
		lvl = slog.LevelWarn
	case e.Level == logrus.InfoLevel:
		lvl = slog.LevelInfo
	}
	attrs := []any{"source", "containers/image"}
	for k, v := range e.Data {
		attrs = append(attrs, k, v)
	}
	l.Log(context.Background(), lvl, e.Message, attrs...)
	return nil
}
