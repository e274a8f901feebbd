// "Copy link": a link to this exact view (its project, range and filters) for someone else, as the URL holds them all.
import { useState } from 'react'

export function CopyLink({ pid }: { pid: string }) {
  const [copied, setCopied] = useState(false)
  const copy = () => {
    const params = new URLSearchParams(window.location.search)
    params.set('project', pid)
    const url = `${window.location.origin}${window.location.pathname}?${params.toString()}`
    void navigator.clipboard?.writeText(url).then(
      () => {
        setCopied(true)
        window.setTimeout(() => setCopied(false), 1500)
      },
      () => window.prompt('Copy this link', url),
    )
  }
  return (
    <button type="button" className="btn" onClick={copy} data-testid="copy-link" title="Copy a link to this view with its filters">
      {copied ? 'Copied' : 'Copy link'}
    </button>
  )
}
