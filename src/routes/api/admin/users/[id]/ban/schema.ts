import { z } from 'zod';
import { reasonField } from '$lib/server/http/admin-input';

export const banBody = z.object({ reason: reasonField });
