// Package secret knows the secret values of the configuration and removes them from
// every text a person or a peer may read.
//
// One process-wide [Set] ([Default]) holds the known values. A value registers
// itself when the configuration resolves it: a [Value] (the type of every secret
// field: header values, tokens, API keys, passwords) when it is decoded, [Resolve]
// when it reads a value from a file or the environment, [ReadFile] for password
// files read before each connection, and [ParseURL] or [RegisterURL] for the
// userinfo of a configured URL ([Set.AddUserPassword] registers the "user:password"
// pair as well).
//
// [Redact] replaces every form a registered value takes on the wire ([Forms]): the
// value; its Go- and JSON-quoted, query-escaped, path-escaped and userinfo-escaped
// forms; its base64 (whole, and the groups that encode it after an unknown prefix,
// such as the user name of Basic auth); and the "user:password" pair with all of
// these. Then it removes pieces of a form that an excerpt cut: a prefix of a form at
// the end of the text or right before an ellipsis ("…" or "..."), and a suffix of a
// form at its start or right after an ellipsis, from [MinCut] (8) bytes (from half
// the form, at least [MinLen], for forms shorter than 16 bytes). Values shorter than
// [MinLen] (4) bytes are not registered: they would eat ordinary words.
//
// The exits use it: [Handler] wraps the daemon's slog handler, [Writer] the
// commands' output, [Cut] and [Excerpt] are the one way to shorten a text (they
// redact first, so that no cut leaves a piece of a secret that no longer matches),
// [Scrub] redacts an error's text keeping its chain, and [ParseURL] and [URLError]
// keep a *url.Error from printing a URL's password.
//
// The package imports only the standard library.
package secret
