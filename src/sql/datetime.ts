/**
 * SQLite's date and time functions over an integer count of milliseconds since the Julian epoch
 * (noon, 24 November 4714 BC, proleptic Gregorian), the representation SQLite itself uses.
 */
import { toText, type Value } from './value.ts';

const MS_PER_DAY = 86_400_000;
/** Julian day of 1970-01-01 00:00 in milliseconds. */
const UNIX_EPOCH_JD_MS = 210866760000000;

interface DT { jd: number } // milliseconds since the Julian epoch

function ymdToJd(Y: number, M: number, D: number): number {
  // Meeus' algorithm, as SQLite's computeJD.
  if (M <= 2) { Y--; M += 12; }
  const A = Math.floor(Y / 100);
  const B = 2 - A + Math.floor(A / 4);
  const X1 = Math.floor(365.25 * (Y + 4716));
  const X2 = Math.floor(30.6001 * (M + 1));
  return (X1 + X2 + D + B - 1524.5) * MS_PER_DAY;
}

interface Parts { Y: number; M: number; D: number; h: number; m: number; s: number }

function jdToParts(jd: number): Parts {
  const Z = Math.floor((jd + 43200000) / MS_PER_DAY);
  let A = Z;
  const alpha = Math.floor((Z - 1867216.25) / 36524.25);
  A = Z + 1 + alpha - Math.floor(alpha / 4);
  const B = A + 1524;
  const C = Math.floor((B - 122.1) / 365.25);
  const D0 = Math.floor(365.25 * C);
  const E = Math.floor((B - D0) / 30.6001);
  const X1 = Math.floor(30.6001 * E);
  const D = B - D0 - X1;
  const M = E < 14 ? E - 1 : E - 13;
  const Y = M > 2 ? C - 4716 : C - 4715;
  let dayMs = (jd + 43200000) % MS_PER_DAY;
  if (dayMs < 0) dayMs += MS_PER_DAY;
  const h = Math.floor(dayMs / 3600000);
  const m = Math.floor((dayMs % 3600000) / 60000);
  const s = (dayMs % 60000) / 1000;
  return { Y, M, D, h, m, s };
}

function partsToJd(p: Parts): number {
  return ymdToJd(p.Y, p.M, p.D) + p.h * 3600000 + p.m * 60000 + Math.round(p.s * 1000);
}

const TIME_RE = /^(\d{2}):(\d{2})(?::(\d{2}(?:\.\d+)?))?\s*(?:(Z|z)|([+-])(\d{2}):(\d{2}))?$/;
const DATE_RE = /^(-?\d{4})-(\d{2})-(\d{2})(?:(?:T|\s+)(.*))?$/;

function parseTimeOfDay(s: string): { ms: number; tz: number } | null {
  const m = TIME_RE.exec(s.trim());
  if (!m) return null;
  const h = Number(m[1]), mi = Number(m[2]), sec = m[3] ? Number(m[3]) : 0;
  if (h > 24 || mi > 59 || sec >= 60) return null;
  let tz = 0;
  if (m[5]) tz = (m[5] === '-' ? -1 : 1) * (Number(m[6]) * 60 + Number(m[7]));
  return { ms: h * 3600000 + mi * 60000 + Math.round(sec * 1000), tz };
}

function parseValue(v: Value, now: number): DT | null {
  if (v === null) return null;
  if (typeof v === 'bigint' || typeof v === 'number') {
    return { jd: Math.round(Number(v) * MS_PER_DAY) };
  }
  const s = toText(v)!.trim();
  if (s.toLowerCase() === 'now') return { jd: now + UNIX_EPOCH_JD_MS };
  const d = DATE_RE.exec(s);
  if (d) {
    const Y = Number(d[1]), M = Number(d[2]), D = Number(d[3]);
    if (M < 1 || M > 12 || D < 1 || D > 31) return null;
    let jd = ymdToJd(Y, M, D);
    if (d[4] !== undefined && d[4] !== '') {
      const t = parseTimeOfDay(d[4]);
      if (!t) return null;
      jd += t.ms - t.tz * 60000;
    }
    return { jd };
  }
  const t = parseTimeOfDay(s);
  if (t) return { jd: ymdToJd(2000, 1, 1) + t.ms - t.tz * 60000 };
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return { jd: Math.round(Number(s) * MS_PER_DAY) };
  return null;
}

function applyModifier(dt: DT, mod: string, first: Value, isFirst: boolean): boolean {
  const m = mod.trim().toLowerCase();
  if (m === 'unixepoch' && isFirst && (typeof first === 'bigint' || typeof first === 'number' || (typeof first === 'string' && /^\s*[+-]?[\d.]+\s*$/.test(first)))) {
    dt.jd = Math.round(Number(first) * 1000) + UNIX_EPOCH_JD_MS;
    return true;
  }
  if (m === 'julianday' && isFirst) return true;
  if (m === 'auto' && isFirst) {
    const n = Number(first);
    if (typeof first !== 'string' && n >= -210866760000 && n <= 253402300799 && !(n >= 0 && n < 5373484.5)) {
      dt.jd = Math.round(n * 1000) + UNIX_EPOCH_JD_MS;
    }
    return true;
  }
  if (m === 'utc' || m === 'localtime') {
    const off = new Date((dt.jd - UNIX_EPOCH_JD_MS)).getTimezoneOffset() * 60000;
    dt.jd += m === 'utc' ? off : -off;
    return true;
  }
  if (m === 'subsec' || m === 'subsecond') return true;
  if (m.startsWith('start of ')) {
    const p = jdToParts(dt.jd);
    const what = m.slice(9).trim();
    p.h = 0; p.m = 0; p.s = 0;
    if (what === 'month') p.D = 1;
    else if (what === 'year') { p.D = 1; p.M = 1; }
    else if (what !== 'day') return false;
    dt.jd = partsToJd(p);
    return true;
  }
  if (m.startsWith('weekday ')) {
    const n = Number(m.slice(8));
    if (!Number.isInteger(n) || n < 0 || n > 6) return false;
    const day = Math.floor((dt.jd + 43200000) / MS_PER_DAY + 1) % 7;
    let add = n - day;
    if (add < 0) add += 7;
    dt.jd += add * MS_PER_DAY;
    return true;
  }
  const am = /^([+-]?\d+(?:\.\d*)?|[+-]?\.\d+)\s*(day|hour|minute|second|month|year)s?$/.exec(m);
  if (am) {
    const n = Number(am[1]);
    switch (am[2]) {
      case 'day': dt.jd += Math.round(n * MS_PER_DAY); return true;
      case 'hour': dt.jd += Math.round(n * 3600000); return true;
      case 'minute': dt.jd += Math.round(n * 60000); return true;
      case 'second': dt.jd += Math.round(n * 1000); return true;
      case 'month': case 'year': {
        const p = jdToParts(dt.jd);
        const whole = Math.trunc(n);
        if (am[2] === 'month') {
          const total = p.M - 1 + whole;
          p.Y += Math.floor(total / 12);
          p.M = ((total % 12) + 12) % 12 + 1;
        } else p.Y += whole;
        // Day overflow normalises forward (2001-01-31 +1 month = 2001-03-03), as in SQLite.
        const frac = n - whole;
        dt.jd = partsToJd(p) + (frac !== 0 ? Math.round(frac * (am[2] === 'month' ? 30 : 365) * MS_PER_DAY) : 0);
        return true;
      }
    }
  }
  const hm = /^([+-])(\d{2}):(\d{2})(?::(\d{2}(?:\.\d+)?))?$/.exec(m);
  if (hm) {
    const sign = hm[1] === '-' ? -1 : 1;
    dt.jd += sign * (Number(hm[2]) * 3600000 + Number(hm[3]) * 60000 + Math.round(Number(hm[4] ?? 0) * 1000));
    return true;
  }
  return false;
}

function evaluate(args: Value[], now: number): DT | null {
  const first = args.length ? args[0]! : 'now';
  const dt = parseValue(first, now);
  if (!dt) return null;
  for (let i = 1; i < args.length; i++) {
    const a = args[i]!;
    if (a === null) return null;
    if (!applyModifier(dt, toText(a)!, first, i === 1)) return null;
  }
  if (dt.jd < 0 || dt.jd > 464269060799999) return null;
  return dt;
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

function fmtDate(p: Parts): string {
  const y = p.Y < 0 ? `-${pad(-p.Y, 4)}` : pad(p.Y, 4);
  return `${y}-${pad(p.M)}-${pad(p.D)}`;
}
function fmtTime(p: Parts, subsec: boolean): string {
  const s = subsec ? p.s.toFixed(3).padStart(6, '0') : pad(Math.floor(p.s));
  return `${pad(p.h)}:${pad(p.m)}:${s}`;
}

function hasSubsec(args: Value[]): boolean {
  return args.slice(1).some((a) => typeof a === 'string' && /^\s*subsec(ond)?\s*$/i.test(a));
}

export function dateFn(args: Value[], now: number): Value {
  const dt = evaluate(args, now);
  return dt ? fmtDate(jdToParts(dt.jd)) : null;
}
export function timeFn(args: Value[], now: number): Value {
  const dt = evaluate(args, now);
  return dt ? fmtTime(jdToParts(dt.jd), hasSubsec(args)) : null;
}
export function datetimeFn(args: Value[], now: number): Value {
  const dt = evaluate(args, now);
  if (!dt) return null;
  const p = jdToParts(dt.jd);
  return `${fmtDate(p)} ${fmtTime(p, hasSubsec(args))}`;
}
export function juliandayFn(args: Value[], now: number): Value {
  const dt = evaluate(args, now);
  return dt ? dt.jd / MS_PER_DAY : null;
}
export function unixepochFn(args: Value[], now: number): Value {
  const dt = evaluate(args, now);
  if (!dt) return null;
  const ms = dt.jd - UNIX_EPOCH_JD_MS;
  return hasSubsec(args) ? ms / 1000 : BigInt(Math.floor(ms / 1000));
}

export function strftimeFn(args: Value[], now: number): Value {
  if (args.length === 0 || args[0] === null) return null;
  const fmt = toText(args[0]!)!;
  const dt = evaluate(args.slice(1), now);
  if (!dt) return null;
  const p = jdToParts(dt.jd);
  const dayStart = ymdToJd(p.Y, 1, 1);
  const yday = Math.floor((dt.jd - dayStart) / MS_PER_DAY); // 0-based
  const wday = Math.floor((dt.jd + 43200000) / MS_PER_DAY + 1) % 7;
  let out = '';
  for (let i = 0; i < fmt.length; i++) {
    const c = fmt[i]!;
    if (c !== '%') { out += c; continue; }
    const f = fmt[++i];
    switch (f) {
      case 'd': out += pad(p.D); break;
      case 'e': out += String(p.D).padStart(2, ' '); break;
      case 'f': out += p.s.toFixed(3).padStart(6, '0'); break;
      case 'H': out += pad(p.h); break;
      case 'k': out += String(p.h).padStart(2, ' '); break;
      case 'I': out += pad(p.h % 12 === 0 ? 12 : p.h % 12); break;
      case 'l': out += String(p.h % 12 === 0 ? 12 : p.h % 12).padStart(2, ' '); break;
      case 'j': out += pad(yday + 1, 3); break;
      case 'J': out += String(dt.jd / MS_PER_DAY); break;
      case 'm': out += pad(p.M); break;
      case 'M': out += pad(p.m); break;
      case 'p': out += p.h >= 12 ? 'PM' : 'AM'; break;
      case 'P': out += p.h >= 12 ? 'pm' : 'am'; break;
      case 's': out += String(Math.floor((dt.jd - UNIX_EPOCH_JD_MS) / 1000)); break;
      case 'S': out += pad(Math.floor(p.s)); break;
      case 'T': out += fmtTime(p, false); break;
      case 'R': out += `${pad(p.h)}:${pad(p.m)}`; break;
      case 'F': out += fmtDate(p); break;
      case 'D': out += `${pad(p.M)}/${pad(p.D)}/${pad(((p.Y % 100) + 100) % 100)}`; break;
      case 'u': out += String(wday === 0 ? 7 : wday); break;
      case 'w': out += String(wday); break;
      case 'U': out += pad(Math.floor((yday + 7 - wday) / 7)); break;
      case 'W': out += pad(Math.floor((yday + 7 - ((wday + 6) % 7)) / 7)); break;
      case 'Y': out += p.Y < 0 ? `-${pad(-p.Y, 4)}` : pad(p.Y, 4); break;
      case 'y': out += pad(((p.Y % 100) + 100) % 100); break;
      case 'G': case 'g': case 'V': {
        // ISO 8601 week-numbering year: the week with the year's first Thursday is week 1.
        const thursday = dt.jd + (3 - ((wday + 6) % 7)) * MS_PER_DAY;
        const tp = jdToParts(thursday);
        const week = Math.floor((thursday - ymdToJd(tp.Y, 1, 1)) / MS_PER_DAY / 7) + 1;
        out += f === 'G' ? pad(tp.Y, 4) : f === 'g' ? pad(tp.Y % 100) : pad(week);
        break;
      }
      case '%': out += '%'; break;
      default: return null;
    }
  }
  return out;
}
