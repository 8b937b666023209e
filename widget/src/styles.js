// All styles live in one constructable stylesheet adopted by the shadow root, so pages with a
// strict CSP (no inline <style>) work and the host page's CSS cannot reach inside.
// `:host { all: initial !important }` wins over any page rule aimed at the host element
// (important declarations from the inner context beat the outer ones).

// Dark colours, for .w.dark (the owner's choice) and .w.auto when the visitor's system is dark.
const DARK =
  "--fg:#e7e9ef;--mut:#a8afbd;--bd:#343a48;--bg:#12151c;--sf:#1c202a;--sy:#272c38;--lk:#e7e9ef;--er:#ff9b92;--okc:#7ee2a8;--okb:#12321f;--cb:#3a3116;--cbd:#5a4a1c;--cf:#f5dc8f;color-scheme:dark";

export function stylesheetText(accent, onAccent) {
  return `
:host{all:initial!important;display:block!important;position:static!important;width:0!important;height:0!important;overflow:visible!important;visibility:visible!important;opacity:1!important;transform:none!important;filter:none!important;contain:none!important}
.w{--a:${accent};--on:${onAccent};--fg:#1d2230;--mut:#5f6677;--bd:#e3e6ee;--bg:#f6f7fa;--sf:#fff;--sy:#eceef3;--lk:${accent};--er:#b42318;--okc:#05603a;--okb:#ecfdf3;--cb:#fff8e6;--cbd:#f3e2b3;--cf:#6b4e00;all:initial;display:block;color-scheme:light;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);-webkit-font-smoothing:antialiased;text-align:left;direction:ltr}
.w *,.w *::before,.w *::after{box-sizing:border-box;margin:0;padding:0;border:0;font:inherit;color:inherit;background:none;text-align:inherit;text-transform:none;letter-spacing:normal;text-decoration:none;text-shadow:none;box-shadow:none;outline:0;visibility:inherit;float:none;opacity:1;min-width:0;max-width:none}
.w.dark{${DARK}}
@media (prefers-color-scheme:dark){.w.auto{${DARK}}}
.w [hidden]{display:none!important}
.w button,.w textarea,.w input,.w select{appearance:none;-webkit-appearance:none;cursor:pointer}
.w textarea,.w input{cursor:text}
.w button:disabled{opacity:.5;cursor:default}
.w :focus-visible{outline:2px solid var(--a);outline-offset:2px}
.launcher{position:fixed;bottom:20px;right:20px;z-index:2147483000;display:flex;align-items:center;justify-content:center;width:60px;height:60px;border-radius:50%;background:var(--a);color:var(--on);box-shadow:0 6px 20px rgba(16,24,40,.24),0 2px 6px rgba(16,24,40,.16);transition:transform .2s ease,box-shadow .2s ease}
.w.left .launcher{right:auto;left:20px}
.launcher:hover{transform:scale(1.05);box-shadow:0 8px 24px rgba(16,24,40,.28),0 2px 6px rgba(16,24,40,.16)}
.launcher:focus-visible{outline:3px solid var(--a);outline-offset:3px}
.launcher.txt{width:auto;gap:8px;padding:0 20px 0 16px;border-radius:30px;font-size:15px;font-weight:650}
.w.open .launcher.txt .lt{display:none}
.w.open .launcher.txt{width:60px;padding:0}
.launcher svg{display:block;width:28px;height:28px;fill:none;stroke:currentColor;stroke-width:2;stroke-linecap:round;stroke-linejoin:round}
.badge{position:absolute;top:-2px;right:-2px;min-width:22px;height:22px;padding:0 6px;border-radius:11px;background:#d92d20;color:#fff;font-size:12px;font-weight:700;line-height:22px;text-align:center;box-shadow:0 0 0 2px #fff}
.panel{position:fixed;bottom:92px;right:20px;z-index:2147483001;display:flex;flex-direction:column;width:376px;height:min(620px,calc(100vh - 116px));min-height:320px;border-radius:16px;background:var(--sf);color:var(--fg);box-shadow:0 12px 48px rgba(16,24,40,.22),0 2px 8px rgba(16,24,40,.12);overflow:hidden;animation:rise .18s ease-out}
.w.left .panel{right:auto;left:20px}
@keyframes rise{from{opacity:0;transform:translateY(12px)}to{opacity:1;transform:none}}
.head{display:flex;flex-direction:column;align-items:flex-start;gap:8px;padding:14px 12px 14px 18px;background:var(--a);color:var(--on)}
.hr{display:flex;align-items:center;gap:10px;width:100%}
.ht{flex:1;min-width:0}
.av{flex:none;display:block;width:38px;height:38px;border-radius:50%;object-fit:cover;background:var(--on)}
.title{font-size:17px;font-weight:650;line-height:1.3;overflow-wrap:anywhere}
.sub{font-size:12.5px;line-height:1.3;margin-top:2px}
.x{display:flex;align-items:center;justify-content:center;width:36px;height:36px;border-radius:10px;color:var(--on)}
.x:hover{background:rgba(255,255,255,.16)}
.x svg,.send svg{display:block;width:20px;height:20px;fill:none;stroke:currentColor;stroke-width:2.2;stroke-linecap:round;stroke-linejoin:round}
.x:focus-visible,.hb:focus-visible{outline-color:var(--on);outline-offset:-2px}
.hb{flex:none;display:flex;align-items:center;gap:6px;height:32px;padding:0 10px;border:1px solid rgba(255,255,255,.45);border-radius:17px;color:var(--on);font-size:12.5px;font-weight:600;white-space:nowrap}
.hb:hover:enabled{background:rgba(255,255,255,.16)}
.hb svg{display:block;width:16px;height:16px;fill:none;stroke:currentColor;stroke-width:2;stroke-linecap:round;stroke-linejoin:round}
.closed{display:flex;flex-wrap:wrap;align-items:center;gap:4px 10px;padding:10px 20px;background:var(--cb);border-bottom:1px solid var(--cbd);color:var(--cf);font-size:13.5px}
.linkbtn{color:inherit;font-weight:650;text-decoration:underline;text-underline-offset:2px}
.scroll{flex:1;overflow-y:auto;overscroll-behavior:contain;padding:16px 16px 8px;background:var(--bg)}
.log{display:flex;flex-direction:column;gap:10px}
.msg{display:flex;flex-direction:column;align-items:flex-start;max-width:85%}
.msg.me{align-self:flex-end;align-items:flex-end}
.bubble{padding:9px 13px;border-radius:16px 16px 16px 4px;background:var(--sf);border:1px solid var(--bd);white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word}
.me .bubble{border-radius:16px 16px 4px 16px;background:var(--a);border-color:var(--a);color:var(--on)}
.bubble a{color:var(--lk);text-decoration:underline;text-underline-offset:2px;cursor:pointer}
.me .bubble a{color:var(--on)}
.prov .bubble::after{content:"";display:inline-block;width:7px;height:14px;margin-left:2px;vertical-align:-2px;background:var(--mut);animation:blink 1s steps(2) infinite}
@keyframes blink{50%{opacity:0}}
.meta{display:flex;gap:6px;align-items:center;margin:3px 4px 0;color:var(--mut);font-size:12px}
.meta .retry{color:var(--er);font-weight:600;text-decoration:underline}
.failed .bubble{opacity:.75}
.sys{align-self:center;max-width:90%;padding:3px 10px;border-radius:10px;background:var(--sy);color:var(--mut);font-size:12.5px;text-align:center;white-space:pre-wrap;overflow-wrap:anywhere}
.typing{display:flex;gap:4px;align-items:center;width:max-content;margin-top:10px;padding:12px 14px;border-radius:16px 16px 16px 4px;background:var(--sf);border:1px solid var(--bd)}
.typing i{display:block;width:7px;height:7px;border-radius:50%;background:#9aa1b1;animation:dot 1.2s infinite ease-in-out}
.tl{margin-left:6px;color:var(--mut);font-size:13px}
.typing i:nth-child(2){animation-delay:.15s}.typing i:nth-child(3){animation-delay:.3s}
@keyframes dot{0%,60%,100%{transform:none;opacity:.5}30%{transform:translateY(-4px);opacity:1}}
.sys .linkbtn{display:block;margin:2px auto 0;color:var(--lk)}
.sep{display:flex;align-items:center;gap:10px;color:var(--mut);font-size:12px;font-weight:600}
.sep::before,.sep::after{content:"";flex:1;border-top:1px solid var(--bd)}
.card{align-self:flex-start;width:88%;display:flex;flex-direction:column;gap:10px;padding:12px 14px;border:1px solid var(--bd);border-radius:14px;background:var(--sf);font-size:14px}
.card fieldset{display:flex;flex-direction:column;gap:8px}
.card label{display:block;margin-bottom:3px;color:var(--mut);font-size:13px;font-weight:600}
.card input,.card select,.card textarea{display:block;width:100%;padding:7px 10px;border:1px solid var(--bd);border-radius:9px;background:var(--sf);color:var(--fg);font-size:15px}
.card textarea{resize:vertical}
.card input:focus,.card select:focus,.card textarea:focus{border-color:var(--a);outline:0}
.card [aria-invalid=true],.card [aria-invalid=true]:focus{border-color:var(--er)}
.card dl{display:grid;grid-template-columns:auto 1fr;gap:2px 12px;overflow-wrap:anywhere}
.card dt{color:var(--mut)}
.req,.ferr{color:var(--er)}
.ferr{font-size:12.5px;margin-top:2px}
.ferr:empty{display:none}
.card .btn{min-height:36px;padding:6px 14px}
.card a.btn{display:block;text-align:center;text-decoration:none;line-height:24px}
.ok{color:var(--okc);font-weight:600}
.row.start{justify-content:flex-start;gap:6px}
.card .btn.ghost[aria-pressed=true]{background:var(--a);color:var(--on);border-color:var(--a)}
.tz{color:var(--mut);font-size:12.5px}
.tools{display:flex;justify-content:flex-end;margin-top:6px;font-size:12.5px;color:var(--mut)}
.sr{position:absolute!important;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.foot{padding:12px 14px 14px;border-top:1px solid var(--bd);background:var(--sf)}
.consent{display:flex;flex-direction:column;gap:10px;font-size:13.5px;color:var(--fg)}
.consent p{white-space:pre-wrap;overflow-wrap:anywhere;max-height:140px;overflow-y:auto}
.consent .row{justify-content:space-between;align-items:center}
.consent a{color:var(--lk);font-weight:600;text-decoration:underline;text-underline-offset:2px;cursor:pointer}
.btn{display:inline-flex;align-items:center;justify-content:center;min-height:40px;padding:8px 18px;border-radius:10px;background:var(--a);color:var(--on);font-weight:650}
.btn:hover{filter:brightness(1.07)}
.btn.ghost{background:none;color:var(--fg);border:1px solid var(--bd)}
.err{color:var(--er);font-size:13px}
.composer{display:flex;align-items:flex-end;gap:8px;padding:6px 6px 6px 14px;border:1px solid var(--bd);border-radius:14px;background:var(--sf);transition:border-color .15s}
.composer:focus-within{border-color:var(--a)}
.composer textarea{flex:1;display:block;min-height:24px;max-height:120px;margin:5px 0;resize:none;overflow-y:auto;line-height:24px;white-space:pre-wrap;color:var(--fg)}
.w textarea::placeholder,.w input::placeholder{color:#8a91a1;opacity:1}
.composer textarea:focus-visible{outline:0}
.send{flex:none;display:flex;align-items:center;justify-content:center;width:36px;height:36px;border-radius:10px;background:var(--a);color:var(--on)}
.send:disabled{opacity:.45;cursor:default}
.offline{flex:1;display:flex;flex-direction:column;gap:12px;padding:18px 20px;overflow-y:auto}
.offline label{display:flex;flex-direction:column;gap:4px;font-size:13px;font-weight:600;color:var(--mut)}
.offline input,.offline textarea{display:block;width:100%;padding:9px 11px;border:1px solid var(--bd);border-radius:10px;background:var(--sf);color:var(--fg);font-size:15px;font-weight:400}
.offline textarea{min-height:110px;resize:vertical}
.offline input:focus,.offline textarea:focus{border-color:var(--a);outline:0}
.row{display:flex;gap:10px;justify-content:flex-end;flex-wrap:wrap}
.done{padding:14px;border-radius:12px;background:var(--okb);color:var(--okc)}
@media (max-width:480px){.panel{top:0;left:0!important;right:0!important;bottom:0;width:100%;height:100%;min-height:0;max-height:none;border-radius:0}.w.open .launcher{display:none}}
@media (prefers-reduced-motion:reduce){.w *,.w *::before,.w *::after{animation:none!important;transition:none!important}}
`;
}
