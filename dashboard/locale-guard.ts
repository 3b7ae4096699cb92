// Imported first by app.ts, so that it runs before uPlot's module is evaluated.
import { guardLanguage } from './browser-locale.js';

guardLanguage(navigator);
