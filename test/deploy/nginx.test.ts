// docs/deployment/nginx.md: every nginx recipe in examples/deploy, run by a real nginx.
import { describeRecipe } from './checks.js';

describeRecipe('nginx-unix', 'nginx');
