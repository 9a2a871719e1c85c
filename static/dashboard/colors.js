// Colours: avatars (a colour per name, white initials readable on each) and label chips (the text
// colour picked by contrast against the label's colour, WCAG 2: at least 4.5:1).

const HEX_RE = /^#[0-9a-f]{6}$/i;

// Each one carries white text at ≥ 4.5:1.
const AVATAR_COLORS = ["#4f46e5", "#0f766e", "#b45309", "#be123c", "#7c3aed", "#0369a1", "#15803d", "#a21caf",
                       "#c2410c", "#475569"];

/** The palette a new label picks from (any #rrggbb works: chips choose their text colour). */
export const LABEL_PALETTE = [
  {color: "#ef4444", name: "Red"}, {color: "#f97316", name: "Orange"}, {color: "#facc15", name: "Yellow"},
  {color: "#22c55e", name: "Green"}, {color: "#14b8a6", name: "Teal"}, {color: "#3b82f6", name: "Blue"},
  {color: "#6366f1", name: "Indigo"}, {color: "#a855f7", name: "Purple"}, {color: "#ec4899", name: "Pink"},
  {color: "#64748b", name: "Slate"}, {color: "#1f2937", name: "Charcoal"}, {color: "#e5e7eb", name: "Light grey"},
];

export const FALLBACK_LABEL_COLOR = "#e5e7eb";

export function isHexColor(value) {
  return typeof value === "string" && HEX_RE.test(value);
}

function channel(c) {
  const v = c / 255;
  return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
}

/** WCAG relative luminance of #rrggbb. */
export function luminance(hex) {
  const n = parseInt(hex.slice(1), 16);
  return 0.2126 * channel((n >> 16) & 255) + 0.7152 * channel((n >> 8) & 255) + 0.0722 * channel(n & 255);
}

export function contrast(a, b) {
  const la = luminance(a), lb = luminance(b);
  return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
}

/** Text colour for a background: white or near-black, whichever contrasts more; pure black when
 *  near-black falls short of 4.5:1 (black or white always reaches it: max ≥ 4.58). */
export function textOn(bg) {
  if (!isHexColor(bg)) bg = FALLBACK_LABEL_COLOR;
  const white = contrast(bg, "#ffffff");
  const dark = contrast(bg, "#111827");
  if (white >= dark) return white >= 4.5 ? "#ffffff" : "#000000";
  return dark >= 4.5 ? "#111827" : "#000000";
}

/** A stable colour for a name (same name, same colour, on every page). */
export function avatarColor(name) {
  const text = (name || "?").trim().toLowerCase();
  let hash = 0;
  for (let i = 0; i < text.length; i++) hash = (hash * 31 + text.charCodeAt(i)) | 0;
  return AVATAR_COLORS[Math.abs(hash) % AVATAR_COLORS.length];
}
