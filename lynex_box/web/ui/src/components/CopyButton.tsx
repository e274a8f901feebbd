// A small button that copies a text (an id, a link) to the clipboard and says "Copied" for a moment.
import { useEffect, useRef, useState } from 'react'

export function CopyButton({ text, label, title, testId, children }: { text: string; label: string; title?: string; testId?: string; children?: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle')
  const timer = useRef<number | undefined>(undefined)
  useEffect(() => () => window.clearTimeout(timer.current), [])
  const show = (s: 'copied' | 'failed') => {
    setState(s)
    window.clearTimeout(timer.current)
    timer.current = window.setTimeout(() => setState('idle'), 1500)
  }
  return (
    <button
      type="button"
      className={`btn small copy-btn ${state === 'copied' ? 'copied' : ''}`}
      aria-label={label}
      title={title ?? label}
      data-testid={testId}
      onClick={(e) => {
        e.stopPropagation()
        // The clipboard API exists on secure origins (https, localhost); elsewhere say so instead of failing silently.
        if (!navigator.clipboard) return show('failed')
        navigator.clipboard.writeText(text).then(() => show('copied'), () => show('failed'))
      }}
    >
      <span aria-live="polite">{state === 'copied' ? 'Copied' : state === 'failed' ? 'Copy failed' : (children ?? 'Copy')}</span>
    </button>
  )
}
