import { Module } from '@nestjs/common';
import { TracingService } from './tracing.service';

/**
 * Provides {@link TracingService}. It reads the global config, so it needs no imports; Nest keeps one instance however many modules import this one, hence one provider
 * and one flush at shutdown per app.
 */
@Module({ providers: [TracingService], exports: [TracingService] })
export class TracingModule {}
