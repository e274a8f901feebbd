// Re-exports for views that show both numbers and message previews.
export * from './format'
export { preview } from './messages'
