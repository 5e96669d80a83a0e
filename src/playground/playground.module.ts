import { Module } from '@nestjs/common';
import { PlaygroundController } from './playground.controller';

/** The browser playground at `GET /`. */
@Module({ controllers: [PlaygroundController] })
export class PlaygroundModule {}
