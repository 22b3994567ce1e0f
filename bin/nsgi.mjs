#!/usr/bin/env node
// The nsgi command. The code lives in dist/ (npm run build; npm ci runs it through "prepare").
import '../dist/cli/run.js';
