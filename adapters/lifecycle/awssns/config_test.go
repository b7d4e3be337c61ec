package awssns

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/edgerelay/edgerelay/adapters/lifecycle"
)

func TestSpecRegistered(t *testing.T) {
	spec, ok := lifecycle.Lookup("aws_sns")
	require.True(t, ok)
	require.Equal(t, Name, spec.Name)
	for _, v := range []string{EnvRegion, EnvTopicARNPrefix, EnvEndpointSNS, EnvEndpoint, EnvAccessKeyID,
		EnvSecretAccessKey, EnvSessionToken, EnvWebIdentityTokenFile, EnvRoleARN, EnvRoleSessionName,
		EnvEndpointSTS, EnvSharedCredentials, EnvProfile, EnvContainerFullURI, EnvContainerRelativeURI,
		EnvContainerToken, EnvContainerTokenFile, EnvIMDSEndpoint, EnvIMDSDisabled} {
		require.Contains(t, spec.Variables, v)
	}
	cfg, ok := spec.NewConfig().(*Config)
	require.True(t, ok)
	require.Equal(t, DefaultTimeout, cfg.Timeout)
	require.True(t, cfg.VerifyOnConnect)
}

func TestConfigEnvAndValidate(t *testing.T) {
	const prefix = "arn:aws:sns:us-east-1:123456789012:"
	ok := map[string]string{EnvRegion: "us-east-1", EnvTopicARNPrefix: prefix}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range ok {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "<unset>" {
				delete(m, kv[i])
				continue
			}
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name  string
		yaml  func(c *Config)
		env   map[string]string
		check func(t *testing.T, c *Config)
		// wantErr are the texts every one of which the error has; none means valid.
		wantErr []string
		// secret must not appear in the error.
		secret string
	}{
		{name: "Minimal", env: ok, check: func(t *testing.T, c *Config) {
			require.Equal(t, "us-east-1", c.Region)
			require.Equal(t, prefix, c.TopicARNPrefix)
			require.Equal(t, "https://sns.us-east-1.amazonaws.com/", c.endpoint())
		}},
		{name: "ChinaPartition", env: map[string]string{EnvRegion: "cn-north-1", EnvTopicARNPrefix: "arn:aws-cn:sns:cn-north-1:123456789012:"},
			check: func(t *testing.T, c *Config) {
				require.Equal(t, "https://sns.cn-north-1.amazonaws.com.cn/", c.endpoint())
			}},
		{name: "GovCloudAndNamePrefix", env: map[string]string{EnvRegion: "us-gov-west-1", EnvTopicARNPrefix: "arn:aws-us-gov:sns:us-gov-west-1:123456789012:prod-"}},
		{name: "RegionMissing", env: with(EnvRegion, "<unset>"),
			wantErr: []string{"EVENT_BROKER_AWS_SNS_REGION (events.aws_sns.region): required"}},
		{name: "PrefixMissing", env: with(EnvTopicARNPrefix, "<unset>"),
			wantErr: []string{"EVENT_BROKER_AWS_SNS_TOPIC_ARN_PREFIX (events.aws_sns.topic_arn_prefix): required"}},
		{name: "BothMissing", env: map[string]string{}, wantErr: []string{EnvRegion + " (", EnvTopicARNPrefix + " ("}},
		{name: "EmptyEnvClearsYAML", yaml: func(c *Config) { c.Region = "us-east-1" }, env: with(EnvRegion, ""),
			wantErr: []string{EnvRegion + " (events.aws_sns.region): required"}},
		{name: "RegionBad", env: with(EnvRegion, "US East"), wantErr: []string{EnvRegion, `"US East" is not an AWS region`}},
		{name: "PrefixNotARN", env: with(EnvTopicARNPrefix, "edge-"), wantErr: []string{EnvTopicARNPrefix, "not an SNS topic ARN prefix"}},
		{name: "PrefixNotSNS", env: with(EnvTopicARNPrefix, "arn:aws:sqs:us-east-1:123456789012:"), wantErr: []string{EnvTopicARNPrefix, "service part is not sns"}},
		{name: "PrefixNoAccount", env: with(EnvTopicARNPrefix, "arn:aws:sns:us-east-1::"), wantErr: []string{EnvTopicARNPrefix, "12-digit account"}},
		{name: "PrefixOtherRegion", env: with(EnvTopicARNPrefix, "arn:aws:sns:eu-west-1:123456789012:"),
			wantErr: []string{EnvTopicARNPrefix, "region eu-west-1, not " + EnvRegion + " us-east-1"}},
		{name: "FromYAML", yaml: func(c *Config) {
			c.Region, c.TopicARNPrefix, c.Endpoint = "eu-west-1", "arn:aws:sns:eu-west-1:123456789012:", "http://localhost:4566"
		}, env: map[string]string{}, check: func(t *testing.T, c *Config) {
			require.Equal(t, "http://localhost:4566", c.endpoint())
		}},
		{name: "EnvWinsOverYAML", yaml: func(c *Config) { c.Region = "eu-west-1"; c.AccessKeyID = "AKIAYAML" }, env: with(EnvAccessKeyID, "AKIAENV", EnvSecretAccessKey, "envsecretvalue123"),
			check: func(t *testing.T, c *Config) {
				require.Equal(t, "us-east-1", c.Region)
				require.Equal(t, "AKIAENV", c.AccessKeyID)
				require.Equal(t, []string{"envsecretvalue123"}, c.Secrets())
			}},
		{name: "EndpointSNSBeforeGlobal", env: with(EnvEndpoint, "http://global:1/", EnvEndpointSNS, "http://sns-only:2/"),
			check: func(t *testing.T, c *Config) { require.Equal(t, "http://sns-only:2/", c.endpoint()) }},
		{name: "EndpointGlobal", env: with(EnvEndpoint, "http://global:1/"),
			check: func(t *testing.T, c *Config) { require.Equal(t, "http://global:1/", c.endpoint()) }},
		{name: "EndpointScheme", env: with(EnvEndpointSNS, "ftp://x/"), wantErr: []string{EnvEndpointSNS + " or " + EnvEndpoint + " (events.aws_sns.endpoint)", "not an http:// or https://"}},
		{name: "EndpointUnparsable", env: with(EnvEndpointSNS, "http://[::1"), wantErr: []string{"events.aws_sns.endpoint", "not a URL"}},
		{name: "EndpointUserinfo", env: with(EnvEndpointSNS, "http://user:hunter2pass@x/"), secret: "hunter2pass",
			wantErr: []string{"events.aws_sns.endpoint", "may not carry a user name or password"}},
		{name: "SecretWithoutKeyID", env: with(EnvSecretAccessKey, "only/the/secret/key/value"), secret: "only/the/secret/key/value",
			wantErr: []string{EnvAccessKeyID + " (events.aws_sns.access_key_id): required"}},
		{name: "KeyIDWithoutSecret", env: with(EnvAccessKeyID, "AKIAX"),
			wantErr: []string{EnvSecretAccessKey + " (events.aws_sns.secret_access_key): required"}},
		// The reviewer's finding: one of the pair from the environment, the other
		// from YAML, passed Validate and failed every Connect ("must be set together").
		{name: "KeyIDFromEnvSecretFromYAML", yaml: func(c *Config) { c.SecretAccessKey = "yaml-secret-value-xyz" },
			env: with(EnvAccessKeyID, "AKIAENV"), secret: "yaml-secret-value-xyz",
			wantErr: []string{EnvAccessKeyID + " (events.aws_sns.access_key_id): set in the environment", "events.aws_sns.secret_access_key, not " + EnvSecretAccessKey}},
		{name: "SecretFromEnvKeyIDFromYAML", yaml: func(c *Config) { c.AccessKeyID = "AKIAYAML" },
			env: with(EnvSecretAccessKey, "env-secret-value-xyz"), secret: "env-secret-value-xyz",
			wantErr: []string{EnvSecretAccessKey + " (events.aws_sns.secret_access_key): set in the environment", "events.aws_sns.access_key_id, not " + EnvAccessKeyID}},
		{name: "EnvPairOverYAMLPair", yaml: func(c *Config) { c.AccessKeyID, c.SecretAccessKey = "AKIAYAML", "yaml-secret" },
			env:   with(EnvAccessKeyID, "AKIAENV", EnvSecretAccessKey, "env-secret"),
			check: func(t *testing.T, c *Config) { require.Equal(t, "AKIAENV", c.AccessKeyID) }},
		{name: "TokenWithoutKeys", env: with(EnvSessionToken, "lonely-session-token-value"), secret: "lonely-session-token-value",
			wantErr: []string{EnvSessionToken + " (events.aws_sns.session_token)"}},
		{name: "NegativeTimeout", yaml: func(c *Config) { c.Timeout = -time.Second }, env: ok,
			wantErr: []string{"events.aws_sns.timeout: -1s is negative"}},
		{name: "ProfileFromEnv", yaml: func(c *Config) { c.Profile = "yaml" }, env: with(EnvProfile, "env"),
			check: func(t *testing.T, c *Config) { require.Equal(t, "env", c.Profile) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			if tc.yaml != nil {
				tc.yaml(&c)
			}
			require.NoError(t, c.ApplyEnv(lifecycle.MapEnv(tc.env)))
			err := c.Validate()
			if len(tc.wantErr) == 0 {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
				for _, w := range tc.wantErr {
					require.Contains(t, err.Error(), w)
				}
				if tc.secret != "" {
					require.NotContains(t, err.Error(), tc.secret)
				}
				_, berr := c.Build(lifecycle.Deps{})
				require.Error(t, berr, "Build refuses an invalid config")
			}
			if tc.check != nil {
				tc.check(t, &c)
			}
		})
	}
}

func TestSecretsAndRedaction(t *testing.T) {
	c := DefaultConfig()
	require.NoError(t, c.ApplyEnv(lifecycle.MapEnv(map[string]string{
		EnvAccessKeyID: "AKIA1", EnvSecretAccessKey: "the-secret-access-key", EnvSessionToken: "the-session-token",
	})))
	require.ElementsMatch(t, []string{"the-secret-access-key", "the-session-token"}, c.Secrets())
	require.NotContains(t, c.SecretAccessKey.String(), "the-secret")
}

func TestYAMLStrict(t *testing.T) {
	const doc = `
region: us-east-1
topic_arn_prefix: "arn:aws:sns:us-east-1:123456789012:"
endpoint: http://localhost:4566
access_key_id: AKIAYAML
secret_access_key: yaml/secret/access/key
session_token: yaml-session-token
profile: edge
timeout: 3s
verify_on_connect: false
`
	c := DefaultConfig()
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&c))
	require.NoError(t, c.Validate())
	require.Equal(t, 3*time.Second, c.Timeout)
	require.False(t, c.VerifyOnConnect)
	require.Equal(t, "yaml/secret/access/key", c.SecretAccessKey.Reveal())
	require.ElementsMatch(t, []string{"yaml/secret/access/key", "yaml-session-token"}, c.Secrets())

	dec = yaml.NewDecoder(strings.NewReader("regoin: us-east-1\n"))
	dec.KnownFields(true)
	require.Error(t, dec.Decode(&c), "an unknown key is refused")
}
