package awssns

import (
	"encoding/xml"
	"errors"
	"fmt"

	"github.com/edgerelay/edgerelay/adapters/secret"
)

// ErrClosed is returned by Connect and Publish after Close.
var ErrClosed = errors.New("publisher closed")

// APIError is an error answer of SNS (an ErrorResponse document, or a bare HTTP
// status when the body is not one).
type APIError struct {
	// Op is the action and its topic ("Publish to arn:aws:sns:…:edge-nodes-events").
	Op string
	// Status is the HTTP status code.
	Status int
	// Code and Message are the ErrorResponse's (Message redacted and bounded).
	Code, Message string
	// RequestID is AWS's id of the request, for a support case.
	RequestID string
	// Hint says what to do, for the codes that have an obvious fix.
	Hint string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("%s: HTTP %d", e.Op, e.Status)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	if e.RequestID != "" {
		msg += " [request id " + e.RequestID + "]"
	}
	return msg
}

// IsAuth reports whether AWS rejected the credentials or the signature.
func (e *APIError) IsAuth() bool { return authCodes[e.Code] }

// authCodes are the codes that mean "these credentials do not authenticate".
var authCodes = map[string]bool{
	"InvalidClientTokenId": true, "SignatureDoesNotMatch": true, "IncompleteSignature": true,
	"ExpiredToken": true, "InvalidSignatureException": true, "UnrecognizedClientException": true,
	"MissingAuthenticationToken": true, "InvalidAccessKeyId": true, "AuthFailure": true,
	"RequestExpired": true,
}

// deniedCodes mean authenticated but not allowed.
var deniedCodes = map[string]bool{"AuthorizationError": true, "AccessDenied": true, "AccessDeniedException": true}

// errorXML is the ErrorResponse document of the Query APIs.
type errorXML struct {
	Code      string `xml:"Error>Code"`
	Message   string `xml:"Error>Message"`
	RequestID string `xml:"RequestId"`
}

func parseErrorXML(body []byte) errorXML {
	var e errorXML
	_ = xml.Unmarshal(body, &e)
	return e
}

// apiError builds the error of an answer that is not 2xx; c are the credentials
// the request was signed with, whose secrets never appear in it.
func apiError(op string, status int, body []byte, c Credentials) *APIError {
	x := parseErrorXML(body)
	scrub := func(s string) string {
		s = secret.Scrub(errors.New(s), c.SecretAccessKey, c.SessionToken).Error()
		return secret.Excerpt(s, 300)
	}
	e := &APIError{Op: op, Status: status, Code: x.Code, Message: scrub(x.Message), RequestID: scrub(x.RequestID)}
	switch {
	case authCodes[e.Code]:
		e.Hint = fmt.Sprintf("AWS rejected the credentials from the %s, access key id %s: check the secret access key, the session token and the clock", c.Source, c.AccessKeyID)
	case deniedCodes[e.Code]:
		e.Hint = "the credentials from the " + c.Source + " are not allowed this action: grant sns:Publish on the topic"
	case e.Code == "NotFound":
		e.Hint = "create the topic, or fix " + EnvTopicARNPrefix
	case status/100 == 3:
		e.Hint = redirectHint
	case e.Code == "" && (status == 401 || status == 403):
		e.Hint = "AWS refused the request: check the credentials from the " + c.Source
	}
	return e
}
