/**
 * The one rule for showing text that may carry a secret: a database URL, a sink spec
 * (`webhook:https://…`), or a message that quotes either. Webhook and witness URLs often hold a
 * token in the user name, the path or the query, so every URL in the text is shown as
 *
 *   scheme://[user:***@|***@]host[:port][/<first path segment>][/…][?name=***&…][#***]
 *
 * - a password becomes `***`; a user name is shown only next to a password (alone it is often the
 *   token itself: `https://<token>@host`) and is otherwise `***`;
 * - the first path segment is kept (a database name, `hooks`, `services`) unless it looks like a
 *   token (16+ characters, or 8+ mixing letters and digits), and everything after it becomes `…`;
 * - every query value becomes `***` (names are kept); a fragment becomes `#***`.
 *
 * Text that is not a URL (file paths, `git:` specs) is returned unchanged.
 */

const URL_IN_TEXT = /[a-z][a-z0-9+.-]*:\/\/[^\s'"<>`]+/gi;

export function redact(text: string): string {
  return text.replace(URL_IN_TEXT, redactOneUrl);
}

function redactOneUrl(raw: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(raw)![0];
  const rest = raw.slice(scheme.length);
  const authorityEnd = rest.search(/[/?#]/);
  const authority = authorityEnd === -1 ? rest : rest.slice(0, authorityEnd);
  const tail = authorityEnd === -1 ? '' : rest.slice(authorityEnd);
  const at = authority.lastIndexOf('@');
  let userinfo = '';
  if (at !== -1) {
    const info = authority.slice(0, at);
    const colon = info.indexOf(':');
    userinfo = colon === -1 ? '***@' : `${info.slice(0, colon)}:***@`;
  }
  const host = authority.slice(at + 1);

  const hashAt = tail.indexOf('#');
  const beforeHash = hashAt === -1 ? tail : tail.slice(0, hashAt);
  const queryAt = beforeHash.indexOf('?');
  const path = queryAt === -1 ? beforeHash : beforeHash.slice(0, queryAt);
  const query = queryAt === -1 ? null : beforeHash.slice(queryAt + 1);

  const segments = path.split('/').slice(1);
  let shownPath = '';
  if (segments.length > 0 && !(segments.length === 1 && segments[0] === '')) {
    const first = segments[0]!;
    shownPath = `/${looksLikeToken(first) ? '***' : first}`;
    if (segments.length > 1 && segments.slice(1).some((s) => s !== '')) shownPath += '/…';
    else if (segments.length > 1) shownPath += '/';
  }
  const shownQuery =
    query === null
      ? ''
      : `?${query
          .split('&')
          .map((pair) => {
            const eq = pair.indexOf('=');
            return eq === -1 ? (pair === '' ? '' : '***') : `${pair.slice(0, eq)}=***`;
          })
          .join('&')}`;
  return `${scheme}${userinfo}${host}${shownPath}${shownQuery}${hashAt === -1 ? '' : '#***'}`;
}

function looksLikeToken(segment: string): boolean {
  return segment.length >= 16 || (segment.length >= 8 && /[a-z]/i.test(segment) && /\d/.test(segment));
}
