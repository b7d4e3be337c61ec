package amqp091

import "errors"

// Errors a Publisher returns.
var (
	// ErrClosed is returned by Connect and Publish after Close.
	ErrClosed = errors.New("publisher closed")
	// ErrNotConnected is returned by Publish before a successful Connect.
	ErrNotConnected = errors.New("not connected")
	// ErrNacked means the broker refused the message (basic.nack).
	ErrNacked = errors.New("the broker nacked the message")
)
