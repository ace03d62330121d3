export * from './auth';
export * from './credits';
