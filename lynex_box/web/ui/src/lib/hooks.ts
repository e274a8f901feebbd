// Data loading and small UI hooks shared by the views.
import { useCallback, useEffect, useRef, useState } from 'react'
import type { RefObject } from 'react'

export interface Loaded<T> {
  data: T | null
  error: Error | null
  loading: boolean
  reload: () => void
}

/**
 * Runs `load` whenever `key` changes (aborting the previous run) and on `reload()`.
 * The previous data stays on screen while a new load runs, so nothing jumps.
 */
export function useLoad<T>(key: string | null, load: (signal: AbortSignal) => Promise<T>): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: Error | null; loading: boolean }>({
    data: null,
    error: null,
    loading: key !== null,
  })
  const [tick, setTick] = useState(0)
  const loadRef = useRef(load)
  loadRef.current = load
  useEffect(() => {
    if (key === null) return
    const ctrl = new AbortController()
    setState((s) => ({ ...s, loading: true }))
    loadRef.current(ctrl.signal).then(
      (data) => {
        if (!ctrl.signal.aborted) setState({ data, error: null, loading: false })
      },
      (error: Error) => {
        if (!ctrl.signal.aborted && error.name !== 'AbortError') setState((s) => ({ ...s, error, loading: false }))
      },
    )
    return () => ctrl.abort()
  }, [key, tick])
  const reload = useCallback(() => setTick((t) => t + 1), [])
  return { ...state, reload }
}

/** Calls `fn` every `ms` while the page is visible; `ms` 0 turns it off. */
export function useInterval(fn: () => void, ms: number): void {
  const ref = useRef(fn)
  ref.current = fn
  useEffect(() => {
    if (!ms) return
    const id = window.setInterval(() => {
      if (document.visibilityState === 'visible') ref.current()
    }, ms)
    return () => window.clearInterval(id)
  }, [ms])
}

/** A value kept in localStorage (column choices, theme). */
export function useStored<T>(key: string, initial: T): [T, (v: T) => void] {
  const [value, setValue] = useState<T>(() => {
    try {
      const raw = localStorage.getItem(key)
      return raw === null ? initial : (JSON.parse(raw) as T)
    } catch {
      return initial
    }
  })
  const set = useCallback(
    (v: T) => {
      setValue(v)
      try {
        localStorage.setItem(key, JSON.stringify(v))
      } catch {
        /* storage full or disabled: keep it in memory */
      }
    },
    [key],
  )
  return [value, set]
}

/** Keyboard shortcuts that do not fire while typing in a field. */
export function useKeys(handlers: Record<string, (e: KeyboardEvent) => void>): void {
  const ref = useRef(handlers)
  ref.current = handlers
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.ctrlKey || e.metaKey || e.altKey) return
      const t = e.target as HTMLElement | null
      if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable)) return
      const h = ref.current[e.key]
      if (h) h(e)
    }
    window.addEventListener('keydown', onKey)
    return () => window.removeEventListener('keydown', onKey)
  }, [])
}

/**
 * A `<details>` menu that closes as menus do: on Esc (focus back on its summary) and on a press outside it.
 * Returns the ref to put on the `<details>` element.
 */
export function useDismissableMenu(): RefObject<HTMLDetailsElement | null> {
  const menu = useRef<HTMLDetailsElement>(null)
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape' && menu.current?.open) {
        menu.current.open = false
        menu.current.querySelector('summary')?.focus()
      }
    }
    const onDown = (e: MouseEvent) => {
      if (menu.current?.open && !menu.current.contains(e.target as Node)) menu.current.open = false
    }
    document.addEventListener('keydown', onKey)
    document.addEventListener('mousedown', onDown)
    return () => {
      document.removeEventListener('keydown', onKey)
      document.removeEventListener('mousedown', onDown)
    }
  }, [])
  return menu
}
