// Recipe files are templates: {{NAME}} marks what differs between one machine and the next (a
// folder, a port, how to start nsgi). run.mjs and the tests fill them in the same way, so the
// file a page shows is the file a real server ran.

/**
 * Replaces every {{NAME}} in `text` with `vars[NAME]`. A placeholder with no value is an error
 * (a half-filled config would fail later and far less clearly).
 */
export function renderTemplate(text, vars, source = 'template') {
  return text.replace(/\{\{([A-Z0-9_]+)\}\}/g, (_, name) => {
    if (!(name in vars)) throw new Error(`${source}: no value for {{${name}}} (known: ${Object.keys(vars).join(', ')})`);
    return String(vars[name]);
  });
}
