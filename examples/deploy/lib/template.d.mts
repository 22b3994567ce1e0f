export function renderTemplate(text: string, vars: Record<string, string | number>, source?: string): string;
