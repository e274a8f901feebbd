// Your account: change your password (the current one, then a new one twice). The same form is the whole page after
// a sign-in with a printed password (the first admin's, or one the operator set): the server allows nothing else
// until it is replaced. Changing it signs out every other device.
import { useState } from 'react'
import type { FormEvent } from 'react'
import { api } from '../lib/api'
import { passwordProblem } from '../lib/password'

export const MIN_PASSWORD = 10 // the server's default minimum; an operator may raise it, and the server's answer says so


export function ChangePassword({ onChanged, autoFocus = false }: { onChanged: () => void; autoFocus?: boolean }) {
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault()
    const form = new FormData(e.currentTarget)
    const current = String(form.get('current_password') ?? '')
    const next = String(form.get('new_password') ?? '')
    const problem = passwordProblem(next, String(form.get('repeat_password') ?? ''), current)
    setError(problem)
    if (problem) return
    setBusy(true)
    try {
      await api('/api/auth/password', { method: 'POST', body: { current_password: current, new_password: next }, quiet: true })
      e.currentTarget?.reset()
      onChanged()
    } catch (err) {
      setError((err as Error).message)
    } finally {
      setBusy(false)
    }
  }
  return (
    <form className="form" onSubmit={submit} aria-label="Change password" data-testid="change-password-form">
      <label>
        Current password
        <input name="current_password" type="password" autoComplete="current-password" required autoFocus={autoFocus} />
      </label>
      <label>
        New password
        <input name="new_password" type="password" autoComplete="new-password" required minLength={8} aria-describedby="new-password-hint" />
      </label>
      <span className="muted small" id="new-password-hint">
        Use at least {MIN_PASSWORD} characters, and not your email address.
      </span>
      <label>
        New password, again
        <input name="repeat_password" type="password" autoComplete="new-password" required />
      </label>
      {error && (
        <div className="error-box" role="alert" data-testid="change-password-error">
          {error}
        </div>
      )}
      <button className="btn primary" type="submit" disabled={busy}>
        {busy ? 'Changing…' : 'Change password'}
      </button>
    </form>
  )
}

/** The account tab of the settings. */
export function AccountCard({ email }: { email: string }) {
  const [done, setDone] = useState(false)
  return (
    <section className="card narrow-card" aria-labelledby="account-title">
      <h2 id="account-title">Your password</h2>
      <p className="muted small">
        Signed in as <strong>{email}</strong>. Changing your password signs you out on every other device.
      </p>
      <ChangePassword onChanged={() => setDone(true)} />
      {done && (
        <p className="muted" role="status" data-testid="password-changed">
          Password changed. Other devices are signed out.
        </p>
      )}
    </section>
  )
}

/** The whole page after a sign-in with a printed password, until it is replaced. */
export function ForcedPasswordChange({ email, onDone, onSignOut }: { email: string; onDone: () => void; onSignOut: () => void }) {
  return (
    <div className="login-page">
      <div className="login-card" data-testid="forced-password-change">
        <div className="brand big">
          <span className="logo" aria-hidden>◆</span> Lynex Box
        </div>
        <h2>Choose your own password</h2>
        <p className="small">
          You signed in as <strong>{email}</strong> with a password that was printed or set for you. Choose a new one to continue: until then
          nothing else is open to this account.
        </p>
        <ChangePassword onChanged={onDone} autoFocus />
        <button className="btn small" type="button" onClick={onSignOut}>
          Sign out
        </button>
      </div>
    </div>
  )
}
