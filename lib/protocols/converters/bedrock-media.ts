// Image and document formats between Bedrock's `format` fields and MIME types / data URLs
// (docs/protocols.md#bedrock-converse-request).

const IMAGE_FORMATS: Readonly<Record<string, string>> = {
  'image/png': 'png',
  'image/jpeg': 'jpeg',
  'image/jpg': 'jpeg',
  'image/gif': 'gif',
  'image/webp': 'webp',
};

const DOCUMENT_FORMATS: Readonly<Record<string, string>> = {
  'application/pdf': 'pdf',
  'text/csv': 'csv',
  'application/msword': 'doc',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 'docx',
  'application/vnd.ms-excel': 'xls',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 'xlsx',
  'text/html': 'html',
  'text/plain': 'txt',
  'text/markdown': 'md',
};

function invert(map: Readonly<Record<string, string>>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [mime, format] of Object.entries(map)) if (!out.has(format)) out.set(format, mime);
  return out;
}

const IMAGE_MIMES = invert(IMAGE_FORMATS);
const DOCUMENT_MIMES = invert(DOCUMENT_FORMATS);

export function imageFormatFromMime(mime: string): string | undefined {
  return IMAGE_FORMATS[mime.toLowerCase()];
}

export function mimeFromImageFormat(format: unknown): string | undefined {
  return typeof format === 'string' ? IMAGE_MIMES.get(format) : undefined;
}

export function documentFormatFromMime(mime: string): string | undefined {
  return DOCUMENT_FORMATS[mime.toLowerCase()];
}

export function mimeFromDocumentFormat(format: unknown): string | undefined {
  return typeof format === 'string' ? DOCUMENT_MIMES.get(format) : undefined;
}

export interface DataUrl {
  mime: string;
  /** Base64 text, as in the URL. */
  data: string;
}

/** `data:image/png;base64,iVBOR...` → its parts; undefined for other URLs and non-base64 data URLs. */
export function parseDataUrl(url: string): DataUrl | undefined {
  const m = /^data:([^;,]+)((?:;[^;,]*)*?);base64,(.*)$/s.exec(url);
  if (!m?.[1] || m[3] === undefined) return undefined;
  return { mime: m[1], data: m[3] };
}

/**
 * Bedrock document names allow letters, digits, single spaces, hyphens, parentheses and square
 * brackets (API_runtime_DocumentBlock): anything else becomes a hyphen; the extension is dropped.
 */
export function documentName(filename: unknown, fallback = 'document'): string {
  if (typeof filename !== 'string') return fallback;
  const base = filename.replace(/\.[A-Za-z0-9]{1,5}$/, '');
  const clean = base.replace(/[^A-Za-z0-9 ()[\]-]/g, '-').replace(/ {2,}/g, ' ').trim().slice(0, 200);
  return clean === '' ? fallback : clean;
}
