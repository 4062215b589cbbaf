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

// newLogger is the logger of --log-level and --log-format, on w, through red. Level ""
// is no logging: the console lines on stdout say what happened. containers/image's logrus
// records go to the same logger.
func newLogger(level, format string, w io.Writer, red *tmsync.Redactor) (*slog.Logger, error) {
	if level == "" {
		logrusTo.Store(nil)
		return slog.New(slog.NewTextHandler(io.Discard, nil)), nil
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	switch strings.ToLower(format) {
	case "", "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
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
