import { describe, expect, it } from 'vitest'
import { passwordProblem } from './password'

describe('passwordProblem', () => {
  it('asks for the same new password twice', () => {
    expect(passwordProblem('new one here', 'new one herr', 'old')).toMatch(/differ/)
  })
  it('refuses the current password as the new one', () => {
    expect(passwordProblem('same password', 'same password', 'same password')).toMatch(/different/)
  })
  it('lets a new, repeated password through', () => {
    expect(passwordProblem('new one here', 'new one here', 'old')).toBeNull()
  })
})
