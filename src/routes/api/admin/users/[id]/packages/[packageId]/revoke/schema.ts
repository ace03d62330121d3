import { z } from 'zod';
import { reasonField } from '$lib/server/http/admin-input';

/** `{ reason }`: revoking takes whatever the package still holds. */
export const revokeBody = z.object({ reason: reasonField });
