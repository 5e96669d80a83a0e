import { Module } from '@nestjs/common';
import { PlaygroundController } from './playground.controller';

/** The browser playground at `GET /`; needs the global ConfigModule carrying `gateway`. */
@Module({ controllers: [PlaygroundController] })
export class PlaygroundModule {}
