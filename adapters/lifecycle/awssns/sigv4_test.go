package awssns

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/stretchr/testify/require"
)

// The AWS documentation's example credentials and time.
const (
	exampleKeyID  = "AKIDEXAMPLE"
	exampleSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
)

var exampleTime = time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)

// TestSignerVectors checks the signer against published SigV4 examples: the
// signature test suite's get-vanilla, get-vanilla-query-order-key-case and
// post-vanilla (service "service"), and the IAM ListUsers walk-through of the
// SigV4 documentation.
func TestSignerVectors(t *testing.T) {
	for _, tc := range []struct {
		name, method, url, contentType, service string
		body                                    string
		want                                    string
	}{
		{
			name: "get-vanilla", method: "GET", url: "https://example.amazonaws.com/", service: "service",
			want: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
		},
		{
			name: "get-vanilla-query-order-key-case", method: "GET", url: "https://example.amazonaws.com/?Param2=value2&Param1=value1", service: "service",
			want: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
		},
		{
			name: "post-vanilla", method: "POST", url: "https://example.amazonaws.com/", service: "service",
			want: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
		},
		{
			name: "iam-list-users", method: "GET", url: "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08", service: "iam",
			contentType: "application/x-www-form-urlencoded; charset=utf-8",
			want:        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, tc.url, nil)
			require.NoError(t, err)
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			signV4(req, []byte(tc.body), Credentials{AccessKeyID: exampleKeyID, SecretAccessKey: exampleSecret}, tc.service, "us-east-1", exampleTime)
			require.Equal(t, tc.want, req.Header.Get("Authorization"))
			require.Equal(t, "20150830T123600Z", req.Header.Get("X-Amz-Date"))
		})
	}
}

// TestSigningKeyVector is the derived-key example of the documentation.
func TestSigningKeyVector(t *testing.T) {
	require.Equal(t, "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9",
		hex.EncodeToString(signingKey(exampleSecret, "20150830", "us-east-1", "iam")))
}

// TestSignerMatchesSDK signs random SNS-shaped requests (form bodies with
// awkward characters, session tokens, endpoints with paths and ports) with both
// the adapter's signer and the AWS SDK's, and compares the Authorization headers.
func TestSignerMatchesSDK(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	chars := []rune("abcXYZ019 -._~/+=&%?é€\n\"<>")
	word := func() string {
		var b strings.Builder
		for range 1 + rnd.IntN(20) {
			b.WriteRune(chars[rnd.IntN(len(chars))])
		}
		return b.String()
	}
	endpoints := []string{"https://sns.us-east-1.amazonaws.com/", "http://127.0.0.1:4566/", "https://vpce-1.sns.eu-west-1.vpce.amazonaws.com/sns/a b/", "http://localhost:8080"}
	for i := range 200 {
		form := url.Values{"Action": {"Publish"}, "Version": {"2010-03-31"}, "TopicArn": {"arn:aws:sns:us-east-1:123456789012:" + word()}, "Message": {word()}}
		form.Set("MessageAttributes.entry.1.Name", "type")
		form.Set("MessageAttributes.entry.1.Value.StringValue", word())
		body := []byte(form.Encode())
		c := Credentials{AccessKeyID: "AKIA" + fmt.Sprint(i), SecretAccessKey: word()}
		if i%2 == 1 {
			c.SessionToken = "token" + strings.NewReplacer("\n", "", " ", "", "\"", "").Replace(word()) // tokens are base64
		}
		ep := endpoints[i%len(endpoints)]
		at := exampleTime.Add(time.Duration(rnd.IntN(1e9)) * time.Second)

		mine, err := http.NewRequest("POST", ep, nil)
		require.NoError(t, err)
		mine.Header.Set("Content-Type", formType)
		signV4(mine, body, c, "sns", "us-east-1", at)

		sdk, err := http.NewRequest("POST", ep, nil)
		require.NoError(t, err)
		sdk.Header.Set("Content-Type", formType)
		sum := sha256.Sum256(body)
		require.NoError(t, v4.NewSigner().SignHTTP(context.Background(),
			aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken},
			sdk, hex.EncodeToString(sum[:]), "sns", "us-east-1", at))
		require.Equal(t, sdk.Header.Get("Authorization"), mine.Header.Get("Authorization"), "request %d to %s", i, ep)
		require.Equal(t, sdk.Header.Get("X-Amz-Security-Token"), mine.Header.Get("X-Amz-Security-Token"))
	}
}
