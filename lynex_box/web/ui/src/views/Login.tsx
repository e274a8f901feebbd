// Sign in with email and password (session cookie), or paste an API key and project id (kept in
// sessionStorage only, for instances without user accounts yet).
import { useState } from 'react'
import type { FormEvent } from 'react'
import { api, ApiError, projectPath, setAuthMode, setCsrfToken } from '../lib/api'
import { Link, Tabs } from '../components/ui'

export function Login({ onSignedIn }: { onSignedIn: () => void }) {
  const [tab, setTab] = useState<'password' | 'key'>('password')
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  async function signIn(e: FormEvent<HTMLFormElement>) {
    e.preventDefault()
    const form = new FormData(e.currentTarget)
    setBusy(true)
    setError(null)
    try {
      const res = await api<{ csrf_token?: string }>('/api/auth/login', {
        method: 'POST',
        body: { email: String(form.get('email') ?? ''), password: String(form.get('password') ?? '') },
        quiet: true,
      })
      setCsrfToken(res?.csrf_token ?? null)
      setAuthMode({ kind: 'session' })
      onSignedIn()
    } catch (err) {
      if (err instanceof ApiError && (err.status === 404 || err.status === 405)) {
        setError('This server does not offer email sign-in yet: use an API key instead.')
        setTab('key')
      } else setError(err instanceof ApiError && err.status === 401 ? 'Wrong email or password.' : (err as Error).message)
    } finally {
      setBusy(false)
    }
  }

  async function useKey(e: FormEvent<HTMLFormElement>) {
    e.preventDefault()
    const form = new FormData(e.currentTarget)
    const apiKey = String(form.get('api_key') ?? '').trim()
    const projectId = String(form.get('project_id') ?? '').trim()
    setBusy(true)
    setError(null)
    setAuthMode({ kind: 'key', apiKey, projectId })
    try {
      await api(projectPath(projectId, '/traces'), { query: { limit: 1, from: Date.now() - 3_600_000 }, quiet: true })
      onSignedIn()
    } catch (err) {
      setAuthMode(null)
      setError(err instanceof ApiError && err.status === 401 ? 'That API key is not valid.' : (err as Error).message)
    } finally {
      setBusy(false)
    }
  }

  return (
    <div className="login-page">
      <div className="login-card">
        <div className="brand big">
          <span className="logo" aria-hidden>◆</span> Lynex Box
        </div>
        <Tabs
          label="Sign-in method"
          tabs={[
            ['password', 'Email'],
            ['key', 'API key'],
          ]}
          value={tab}
          onChange={(t) => {
            setTab(t)
            setError(null)
          }}
        />
        {error && (
          <div className="error-box" role="alert" data-testid="login-error">
            {error}
          </div>
        )}
        {tab === 'password' ? (
          <form onSubmit={signIn} className="form" aria-label="Sign in">
            <label>
              Email
              <input name="email" type="email" autoComplete="username" required autoFocus />
            </label>
            <label>
              Password
              <input name="password" type="password" autoComplete="current-password" required />
            </label>
            <button className="btn primary" type="submit" disabled={busy}>
              {busy ? 'Signing in…' : 'Sign in'}
            </button>
            <Link to="/forgot-password" className="small forgot-link" testId="forgot-link">
              Forgot password?
            </Link>
            <p className="muted small">
              The first admin's email and password are printed once, on the first start of the appliance; after signing in with them you choose
              your own password.
            </p>
          </form>
        ) : (
          <form onSubmit={useKey} className="form" aria-label="Use an API key">
            <label>
              API key
              <input name="api_key" type="password" placeholder="lx_…" required autoFocus autoComplete="off" />
            </label>
            <label>
              Project id
              <input name="project_id" placeholder="proj_…" required autoComplete="off" />
            </label>
            <button className="btn primary" type="submit" disabled={busy}>
              {busy ? 'Checking…' : 'Open project'}
            </button>
            <p className="muted small">The key stays in this browser tab only (session storage) and is sent as a Bearer token.</p>
          </form>
        )}
      </div>
    </div>
  )
}
