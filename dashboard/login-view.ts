import { el } from './dom.js';

/**
 * The sign-in form: an operator or auditor API token (`fdt_…`) or a one-time login token.
 * `submit` resolves with an error message to show, or nothing when the page moves on.
 */
export function loginView(
  submit: (token: string) => Promise<string | undefined>,
  initialError?: string,
): HTMLElement {
  const token = el('input', {
    attrs: {
      type: 'password',
      name: 'token',
      autocomplete: 'off',
      spellcheck: 'false',
      placeholder: 'fdt_…',
      required: '',
      'aria-label': 'Token',
      'data-test': 'login-token',
    },
  });
  const error = el('div', {
    className: 'error',
    attrs: { role: 'alert', 'data-test': 'login-error' },
  });
  const showError = (message: string | undefined) => {
    error.hidden = message === undefined;
    error.textContent = message ?? '';
  };
  showError(initialError);
  const signIn = el('button', {
    className: 'primary',
    text: 'Sign in',
    attrs: { type: 'submit', 'data-test': 'login-submit' },
  });
  const form = el('form', { className: 'login-form', attrs: { 'data-test': 'login-form' } }, [
    el('label', { className: 'field' }, [
      el('span', { className: 'stat-label', text: 'Operator or auditor token' }),
      token,
    ]),
    signIn,
    error,
  ]);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = token.value.trim();
    if (!value) return;
    signIn.disabled = true;
    showError(undefined);
    void submit(value).then((message) => {
      signIn.disabled = false;
      if (message !== undefined) {
        showError(message);
        token.select();
      }
    });
  });
  queueMicrotask(() => token.focus());
  return el('main', { className: 'login' }, [
    el('section', { className: 'card login-card' }, [
      el('h1', { className: 'brand' }, [
        'fedistill',
        el('span', { className: 'brand-sub', text: 'dashboard' }),
      ]),
      el('p', { className: 'muted' }, [
        'Sign in with an operator or auditor token from ',
        el('code', { text: 'fedistill token create' }),
        ', or open a one-time link from ',
        el('code', { text: 'fedistill token login-link' }),
        '.',
      ]),
      form,
    ]),
  ]);
}
