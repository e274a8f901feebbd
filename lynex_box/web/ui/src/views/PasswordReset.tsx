// Forgotten passwords: asking for a reset link by email, and the page the link opens (emailed, or handed out
// by an admin) where the user chooses a new password. The token is in the URL's fragment (#lxr_...), which
// browsers never send to servers or write to logs; once used it is taken out of the address bar too.
import { useState } from 'react'
import type { FormEvent, ReactNode } from 'react'
import { api, ApiError } from '../lib/api'
import { Link } from '../components/ui'

function hashToken(): string {
  return decodeURIComponent(window.location.hash.replace(/^#/, ''))
}

function Card({ title, children }: { title: string; children: ReactNode }) {
  return (
    <div className="login-page">
      <div className="login-card">
        <div className="brand big">
          <span className="logo" aria-hidden>◆</span> Lynex Box
        </div>
        <h2>{title}</h2>
        {children}
      </div>
    </div>
  )
}

type ForgotState = { kind: 'form' } | { kind: 'sent'; email: string } | { kind: 'off'; message: string }

/** `POST /api/auth/password/forgot`: always the same answer whether or not the account exists. */
export function ForgotPassword() {
  const [state, setState] = useState<ForgotState>({ kind: 'form' })
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault()
    const email = String(new FormData(e.currentTarget).get('email') ?? '').trim()
    setBusy(true)
    setError(null)
    try {
      await api('/api/auth/password/forgot', { method: 'POST', quiet: true, body: { email } })
      setState({ kind: 'sent', email })
    } catch (err) {
      if (err instanceof ApiError && (err.code === 'not_enabled' || err.status === 405)) setState({ kind: 'off', message: err.message })
      else if (err instanceof ApiError && err.status === 429) setError('Too many reset requests from this address: try again later.')
      else setError((err as Error).message)
    } finally {
      setBusy(false)
    }
  }
  return (
    <Card title="Reset your password">
      {state.kind === 'form' && (
        <form className="form" onSubmit={submit} aria-label="Request a reset link">
          <p className="muted small">Enter the email of your account. If it has one, a link to choose a new password is emailed to it.</p>
          {error && (
            <div className="error-box" role="alert" data-testid="forgot-error">
              {error}
            </div>
          )}
          <label>
            Email
            <input name="email" type="email" autoComplete="username" required autoFocus />
          </label>
          <button className="btn primary" type="submit" disabled={busy}>
            {busy ? 'Sending…' : 'Email me a reset link'}
          </button>
        </form>
      )}
      {state.kind === 'sent' && (
        <p role="status" data-testid="forgot-sent">
          If an account has the email <strong>{state.email}</strong>, a reset link is on its way. It works once and for a limited time; look in the
          spam folder if it does not arrive.
        </p>
      )}
      {state.kind === 'off' && (
        <div className="notice" role="status" data-testid="forgot-not-enabled">
          <p>
            <strong>This server does not send reset emails.</strong> Ask an owner or admin of your organisation for a reset link, or, on the
            machine, run <code>lynex-box users reset-password EMAIL</code>.
          </p>
          <p className="muted small">
            For the operator: reset by email needs <code>[smtp] enabled = true</code> and <code>[server] public_url</code> in lynex.toml.
          </p>
        </div>
      )}
      <Link to="/" testId="back-to-sign-in">
        ← Back to sign in
      </Link>
    </Card>
  )
}

/** The page of a reset link: a new password, typed twice, through `POST /api/auth/password/reset`. */
export function ResetPassword() {
  const [token] = useState(hashToken)
  const [done, setDone] = useState(false)
  const [error, setError] = useState<{ message: string; expired: boolean } | null>(null)
  const [busy, setBusy] = useState(false)
  const valid = token.startsWith('lxr_')
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault()
    const form = new FormData(e.currentTarget)
    const password = String(form.get('password') ?? '')
    if (password !== String(form.get('confirm') ?? '')) {
      setError({ message: 'The two passwords differ: type the same one twice.', expired: false })
      return
    }
    setBusy(true)
    setError(null)
    try {
      await api('/api/auth/password/reset', { method: 'POST', quiet: true, body: { token, password } })
      window.history.replaceState(null, '', window.location.pathname) // the used token leaves the address bar
      setDone(true)
    } catch (err) {
      setError({ message: (err as Error).message, expired: err instanceof ApiError && err.status === 404 })
    } finally {
      setBusy(false)
    }
  }
  if (!valid) {
    return (
      <Card title="Choose a new password">
        <div className="error-box" role="alert">
          This page needs the whole link from the reset email or from your admin (it ends with #lxr_…).
        </div>
        <Link to="/forgot-password">Request a new reset link</Link>
        <Link to="/">← Back to sign in</Link>
      </Card>
    )
  }
  return (
    <Card title="Choose a new password">
      {done ? (
        <p role="status" data-testid="reset-done">
          Your password is changed, and every session of your account is signed out. <a href="/ui/">Sign in</a> with the new password.
        </p>
      ) : (
        <form className="form" onSubmit={submit} aria-label="Choose a new password">
          {error && (
            <div className="error-box" role="alert" data-testid="reset-error">
              {error.message}
              {error.expired && <Link to="/forgot-password">Request a new reset link</Link>}
            </div>
          )}
          <label>
            New password
            <input name="password" type="password" required autoComplete="new-password" autoFocus />
          </label>
          <label>
            Repeat the new password
            <input name="confirm" type="password" required autoComplete="new-password" />
          </label>
          <p className="muted small">At least 10 characters unless your administrator set another minimum, and not your email address.</p>
          <button className="btn primary" type="submit" disabled={busy}>
            {busy ? 'Setting…' : 'Set password'}
          </button>
        </form>
      )}
    </Card>
  )
}
