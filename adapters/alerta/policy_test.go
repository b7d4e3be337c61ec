package alerta

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEnvPolicy(t *testing.T) {
	p, err := NewEnvPolicy([]string{"Production", "Development"})
	require.NoError(t, err)
	require.Nil(t, p.Check("Production"))
	require.Nil(t, p.Check("Development"))
	for _, env := range []string{"", "production", "Production2", "XProduction", "Prod", "Production\n"} {
		e := p.Check(env)
		require.NotNil(t, e, env)
		require.Equal(t, 403, e.Code)
		require.Equal(t, "[POLICY] Alert environment does not match one of Production, Development", e.Message)
	}

	// Full match of a regular expression, as Alerta's re.fullmatch.
	p, err = NewEnvPolicy([]string{"Prod.*", "a|b"})
	require.NoError(t, err)
	require.Nil(t, p.Check("Production"))
	require.Nil(t, p.Check("b"))
	require.NotNil(t, p.Check("ab"))
	require.NotNil(t, p.Check("XProd"))
	require.Equal(t, []string{"Prod.*", "a|b"}, p.Patterns())

	_, err = NewEnvPolicy([]string{"ok", "(unclosed"})
	require.ErrorContains(t, err, "allowed environment 2")

	var none *EnvPolicy
	require.Nil(t, none.Check("anything"))
	p, err = NewEnvPolicy(nil)
	require.NoError(t, err)
	require.Nil(t, p.Check("anything"))

	require.Nil(t, CheckEnvironment("Development", []string{"Production", "Development"}))
	require.Equal(t, 403, CheckEnvironment("Staging", []string{"Production", "Development"}).Code)
	require.Nil(t, CheckEnvironment("(x", []string{"(x"}))
	require.NotNil(t, CheckEnvironment("x", []string{"(x"}))
	require.Nil(t, CheckEnvironment("x", nil))
	for range 2 * envCacheMax { // the cache stays bounded
		require.NotNil(t, CheckEnvironment("x", []string{NewUUID()}))
	}
	require.LessOrEqual(t, len(envCache.m), envCacheMax)
}
