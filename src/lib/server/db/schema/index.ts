export * from './auth';
export * from './credits';
export * from './chat';
export * from './billing';
export * from './security';
export * from './admin';
export * from './admin-totals';
