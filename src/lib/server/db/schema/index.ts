export * from './auth';
export * from './credits';
export * from './chat';
export * from './chat-run';
export * from './billing';
export * from './security';
export * from './admin';
export * from './admin-totals';
