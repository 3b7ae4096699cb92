import { Controller, Get } from '@nestjs/common';
import { openApiDocument } from './openapi.js';

const document = openApiDocument('1');

/** GET /api/docs: the OpenAPI document. It describes the API and holds no data, so no token. */
@Controller('api/docs')
export class DocsController {
  @Get()
  openApi(): Record<string, unknown> {
    return document;
  }
}
