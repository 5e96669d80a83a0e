import { Catch, NotFoundException, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Response } from 'express';

/**
 * 404 without echoing the request: Nest's default body is "Cannot GET <url>", and a URL can carry
 * `access_token` (issue #8).
 */
@Catch(NotFoundException)
export class NotFoundFilter implements ExceptionFilter {
  catch(_exception: NotFoundException, host: ArgumentsHost): void {
    host.switchToHttp().getResponse<Response>().status(404).json({ statusCode: 404, error: 'Not Found' });
  }
}
