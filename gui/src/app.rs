//! The UI thread: builds the windows, starts the network, and runs the one event loop that
//! receives every [`Msg`] from the one channel, updates the model and redraws from it.

use crate::config::{ConfigFile, Remembered, SavedSession, DEFAULT_BROKER};
use crate::dump::{Dump, StallMeter};
use crate::i18n::{code_text, end_reason_text, LANGUAGES};
use crate::model::{ChatModel, FollowUp};
use crate::net::{Command, NetEvent, Network};
use crate::rules::{check_sign_up, name_ok, password_ok, split_logins, Broken};
use crate::ui::account::AccountDialog;
use crate::ui::create_group::CreateGroupDialog;
use crate::ui::main_window::MainWindow;
use crate::ui::manage_group::ManageGroupDialog;
use crate::ui::signin::SignInWindow;
use crate::ui::signup::SignUpWindow;
use crate::ui::{show_on, Action, Msg, Screen};
use fltk::app;
use fltk::prelude::*;
use joint_wire::ClientEvent;
use rust_i18n::t;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

/// How the window was started.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The broker addresses (`--broker`, `JOINT_BROKER`), in failover order; when empty,
    /// the remembered ones.
    pub broker: Vec<String>,
    /// The interface language (`--lang`); else the remembered one, else the environment's.
    pub language: Option<String>,
    /// Where to write the state for tests after every change (`JOINT_GUI_STATE_FILE`).
    pub state_file: Option<PathBuf>,
    /// Speak TLS to the broker, trusting these certificates (`--tls`, `--tls-ca`).
    pub tls: Option<joint_wire::TlsConfig>,
}

/// Why the window could not run.
#[derive(Debug, thiserror::Error)]
pub enum GuiError {
    /// FLTK could not start (no display?).
    #[error("cannot open the window: {0}")]
    Fltk(#[from] fltk::prelude::FltkError),
    /// The network thread could not start.
    #[error("cannot start the network thread: {0}")]
    Io(#[from] std::io::Error),
}

/// At most this many messages are handled before the windows are redrawn, so a flood of
/// events never holds the loop.
const BATCH: usize = 200;

/// Which window has the user's attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shown {
    /// The sign-in window.
    SignIn,
    /// The sign-up window.
    SignUp,
    /// The main window.
    Main,
}

/// Which form waits for the answer to its request, to show the outcome there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiting {
    Create,
    Manage { closes: bool },
    Account,
    Main,
}

/// Every window, the model and the session's bookkeeping.
pub struct App {
    model: ChatModel,
    net: Network,
    config: ConfigFile,
    remembered: Remembered,
    signin: SignInWindow,
    signup: SignUpWindow,
    main: MainWindow,
    create: CreateGroupDialog,
    manage: ManageGroupDialog,
    account: AccountDialog,
    shown: Shown,
    language: &'static str,
    loading_older: HashSet<u64>,
    sent_text: Option<String>,
    waiting: Option<Waiting>,
    /// The session died: do not keep its token when the connection closes.
    forget_session: bool,
    /// A kept session is being resumed ("Continue").
    resuming: bool,
    dump: Option<Dump>,
    stalls: StallMeter,
}

/// Starts FLTK with the look every window is designed for (the label tests measure with it).
pub fn init_toolkit() -> app::App {
    let application = app::App::default().with_scheme(app::Scheme::Gtk);
    app::set_font_size(crate::ui::TEXT_SIZE);
    application
}

/// Runs the window until the user closes it.
pub fn run(options: Options) -> Result<(), GuiError> {
    let application = init_toolkit();
    let (sender, receiver) = app::channel::<Msg>();
    let net = Network::start(Arc::new(move |event| sender.send(Msg::Net(event))), options.tls.clone())?;
    let config = ConfigFile::for_user();
    let remembered = config.load();
    let language = crate::i18n::resolve(
        &options
            .language
            .clone()
            .or_else(|| remembered.language.clone())
            .unwrap_or_else(|| crate::i18n::from_environment().to_owned()),
    );
    rust_i18n::set_locale(language);
    let mut this = App {
        model: ChatModel::default(),
        net,
        config,
        signin: SignInWindow::build(sender),
        signup: SignUpWindow::build(sender),
        main: MainWindow::build(sender),
        create: CreateGroupDialog::build(sender),
        manage: ManageGroupDialog::build(sender),
        account: AccountDialog::build(sender),
        shown: Shown::SignIn,
        language,
        loading_older: HashSet::new(),
        sent_text: None,
        waiting: None,
        forget_session: false,
        resuming: false,
        dump: options.state_file.map(Dump::new),
        stalls: StallMeter::start(),
        remembered,
    };
    let given = (!options.broker.is_empty()).then(|| options.broker.join(", "));
    let broker = given.or_else(|| this.remembered.broker.clone()).unwrap_or_else(|| DEFAULT_BROKER.to_owned());
    this.signin.broker.set_value(&broker);
    this.set_language(language);
    this.offer_saved_session();
    this.signin.window.show();
    this.write_dump();
    while application.wait() {
        let mut handled = 0;
        this.stalls.begin();
        while let Some(msg) = receiver.recv() {
            this.handle(msg);
            handled += 1;
            if handled == BATCH {
                break;
            }
        }
        if handled > 0 {
            this.after_batch();
            app::flush();
            this.write_dump();
            this.stalls.end();
        }
        // Scrolling is no message of ours: look after every event whether the view reached its top.
        this.load_older_if_at_top();
        if handled == BATCH {
            // More are waiting: come back at once instead of sleeping in wait().
            app::awake();
        }
    }
    Ok(())
}

impl App {
    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Ui(action) => self.act(action),
            Msg::Net(event) => self.on_net(event),
        }
    }

    /// What every batch ends with: mark the group shown read and redraw.
    fn after_batch(&mut self) {
        if self.shown != Shown::Main {
            return;
        }
        if let Some(seq) = self.model.mark_current_read() {
            if let Some(group) = self.model.current_group() {
                self.net.send(Command::MarkRead { group: group.name.clone(), seq });
            }
        }
        self.main.update(&self.model, self.sent_text.is_some());
    }

    fn load_older_if_at_top(&mut self) {
        if self.shown != Shown::Main {
            return;
        }
        let Some(group) = self.model.current_group() else { return };
        if !self.main.view.at_top() || self.loading_older.contains(&group.gid) {
            return;
        }
        if let Some(before) = self.model.older_anchor(group.gid) {
            self.loading_older.insert(group.gid);
            self.net.send(Command::Older { gid: group.gid, group: group.name.clone(), before });
        }
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::SignIn => {
                let broker = self.signin.broker.value().trim().to_owned();
                let login = self.signin.login.value().trim().to_owned();
                let password = self.signin.password.value();
                if login.is_empty() || password.is_empty() {
                    return show_on(&mut self.signin.error, &t!("gui.signin.fill_in"));
                }
                self.signin.set_busy(true);
                show_on(&mut self.signin.error, &t!("gui.signin.connecting"));
                self.net.send(Command::SignIn { broker, login, password });
            }
            Action::Continue => {
                if let Some(saved) = self.remembered.session.clone() {
                    self.signin.set_busy(true);
                    show_on(&mut self.signin.error, &t!("gui.signin.connecting"));
                    self.signin.broker.set_value(&saved.broker);
                    self.resuming = true;
                    self.net.send(Command::Resume { broker: saved.broker, token: saved.token });
                }
            }
            Action::ShowSignUp => {
                self.signup.login.set_value(&self.signin.login.value());
                show_on(&mut self.signup.error, "");
                self.signin.window.hide();
                self.signup.window.show();
                self.shown = Shown::SignUp;
            }
            Action::SignUp => self.sign_up(),
            Action::BackToSignIn => self.show_sign_in(None),
            Action::Language(screen) => {
                let choice = match screen {
                    Screen::SignIn => &self.signin.language,
                    Screen::Main => &self.main.language,
                };
                if let Some(lang) = usize::try_from(choice.value()).ok().and_then(|i| LANGUAGES.get(i)) {
                    self.set_language(lang);
                }
            }
            Action::GroupChosen => {
                let line = self.main.groups.value();
                let gid = usize::try_from(line - 1).ok().and_then(|i| self.model.groups.get(i)).map(|g| g.gid);
                if let Some(gid) = gid {
                    self.open_group(gid);
                }
            }
            Action::MemberInfo => {
                let line = self.main.members.value();
                let login = self
                    .model
                    .current_group()
                    .and_then(|g| usize::try_from(line - 1).ok().and_then(|i| g.members.get(i)))
                    .map(|m| m.login.clone());
                if let Some(login) = login {
                    self.net.send(Command::UserInfo { login });
                }
            }
            Action::Send => self.send(),
            Action::Disconnect => self.net.send(Command::Disconnect),
            Action::LogOut => self.net.send(Command::Logout),
            Action::ShowCreateGroup => self.create.open(),
            Action::CreateGroup => {
                let group = self.create.name.value().trim().to_owned();
                if !name_ok(&group) || group.contains('/') {
                    return show_on(&mut self.create.error, &t!("gui.create.bad_name"));
                }
                let members = split_logins(&self.create.members.value());
                self.request(Waiting::Create, Command::CreateGroup { group, members });
            }
            Action::ShowManageGroup => {
                if let Some(group) = self.model.current_group().filter(|g| self.model.is_admin(g.gid)) {
                    self.manage.fill(group);
                    self.manage.add_input.set_value("");
                    show_on(&mut self.manage.error, "");
                    self.net.send(Command::Members { gid: group.gid, group: group.name.clone() });
                    self.manage.window.show();
                }
            }
            Action::AddMembers => {
                let logins = split_logins(&self.manage.add_input.value());
                if let (Some((_, group)), false) = (self.manage.group.clone(), logins.is_empty()) {
                    self.request(Waiting::Manage { closes: false }, Command::AddMembers { group, logins });
                }
            }
            Action::RemoveMember => self.on_selected_member(false),
            Action::HandOver => self.on_selected_member(true),
            Action::DeleteGroup => {
                if let Some((_, group)) = self.manage.group.clone() {
                    if confirm(&t!("gui.confirm.delete_group", group = group)) {
                        self.request(Waiting::Manage { closes: true }, Command::DeleteGroup { group });
                    }
                }
            }
            Action::LeaveGroup => {
                if let Some(group) = self.model.current_group().map(|g| g.name.clone()) {
                    if confirm(&t!("gui.confirm.leave", group = group)) {
                        self.request(Waiting::Main, Command::Leave { group });
                    }
                }
            }
            Action::ShowAccount => {
                let name = self.model.me.as_ref().map(|m| m.name.clone()).unwrap_or_default();
                self.account.open(&name);
            }
            Action::SetName => {
                let name = self.account.name.value().trim().to_owned();
                if !name_ok(&name) {
                    return show_on(&mut self.account.error, &Broken::Name.text());
                }
                self.request(Waiting::Account, Command::SetName { name });
            }
            Action::ChangePassword => {
                let (old, new, again) =
                    (self.account.old.value(), self.account.new.value(), self.account.again.value());
                if !password_ok(&new) {
                    return show_on(&mut self.account.error, &Broken::Password.text());
                }
                if new != again {
                    return show_on(&mut self.account.error, &Broken::Mismatch.text());
                }
                self.request(Waiting::Account, Command::Passwd { old, new });
            }
            Action::DeleteAccount => {
                let password = self.account.delete_password.value();
                if password.is_empty() {
                    return show_on(&mut self.account.error, &t!("gui.account.password_needed"));
                }
                if confirm(&t!("gui.confirm.delete_account")) {
                    self.waiting = Some(Waiting::Account);
                    self.net.send(Command::DeleteAccount { password });
                }
            }
            Action::CloseDialog => self.close_dialogs(),
            Action::Quit => {
                if self.shown == Shown::SignUp {
                    self.show_sign_in(None);
                } else {
                    app::quit();
                }
            }
        }
    }

    fn request(&mut self, waiting: Waiting, command: Command) {
        self.waiting = Some(waiting);
        if let Some(frame) = self.error_frame(waiting) {
            show_on(frame, "");
        }
        self.net.send(command);
    }

    fn error_frame(&mut self, waiting: Waiting) -> Option<&mut fltk::frame::Frame> {
        Some(match waiting {
            Waiting::Create => &mut self.create.error,
            Waiting::Manage { .. } => &mut self.manage.error,
            Waiting::Account => &mut self.account.error,
            Waiting::Main => &mut self.main.error,
        })
    }

    fn on_selected_member(&mut self, hand_over: bool) {
        let (Some(login), Some((_, group))) = (self.manage.selected(), self.manage.group.clone()) else {
            return show_on(&mut self.manage.error, &t!("gui.manage.select_first"));
        };
        if self.model.me.as_ref().is_some_and(|me| me.login == login) {
            return show_on(&mut self.manage.error, &t!("gui.manage.not_yourself"));
        }
        if hand_over {
            if confirm(&t!("gui.confirm.hand_over", group = group, login = login)) {
                self.request(Waiting::Manage { closes: true }, Command::HandOver { group, login });
            }
        } else {
            self.request(Waiting::Manage { closes: false }, Command::RemoveMembers { group, logins: vec![login] });
        }
    }

    fn sign_up(&mut self) {
        let login = self.signup.login.value().trim().to_owned();
        let name = self.signup.name.value().trim().to_owned();
        let (password, again) = (self.signup.password.value(), self.signup.again.value());
        if let Err(broken) = check_sign_up(&login, &name, &password, &again) {
            return show_on(&mut self.signup.error, &broken.text());
        }
        let broker = self.signin.broker.value().trim().to_owned();
        self.signup.set_busy(true);
        show_on(&mut self.signup.error, &t!("gui.signin.connecting"));
        self.net.send(Command::SignUp { broker, login, name, password });
    }

    fn send(&mut self) {
        let body = self.main.input.value();
        // One message at a time: Send is disabled until the broker answers.
        if body.trim().is_empty() || self.sent_text.is_some() {
            return;
        }
        let Some(group) = self.model.current_group().map(|g| g.name.clone()) else {
            return show_on(&mut self.main.error, &t!("gui.main.choose_group"));
        };
        if self.model.connection != crate::model::Connection::Online {
            // Kept in the box, not sent: the user sends it again once the connection is back.
            return show_on(&mut self.main.error, &t!("gui.main.offline_kept"));
        }
        show_on(&mut self.main.error, "");
        self.sent_text = Some(body.clone());
        self.net.send(Command::Publish { group, body });
        self.main.update(&self.model, true);
    }

    fn open_group(&mut self, gid: u64) {
        if let Some(seq) = self.model.open(gid) {
            if let Some(group) = self.model.current_group() {
                self.net.send(Command::MarkRead { group: group.name.clone(), seq });
            }
        }
        if let Some(group) = self.model.current_group() {
            self.net.send(Command::Members { gid, group: group.name.clone() });
        }
    }

    fn on_net(&mut self, event: NetEvent) {
        match event {
            NetEvent::SignedIn { broker, connected, session } => {
                self.forget_session = false;
                self.resuming = false;
                self.sent_text = None;
                self.remembered.broker = Some(broker.clone());
                // A kept session is used up once signed in again; Disconnect keeps the new one.
                self.remembered.session = None;
                self.save_config();
                self.model.signed_in(session.user, &session.groups);
                self.model.connected_to(&connected);
                self.loading_older.clear();
                self.signin.set_busy(false);
                self.signup.set_busy(false);
                self.signin.password.set_value("");
                self.signup.password.set_value("");
                self.signup.again.set_value("");
                show_on(&mut self.signin.error, "");
                show_on(&mut self.signup.error, "");
                self.signin.window.hide();
                self.signup.window.hide();
                self.main.input.set_value("");
                show_on(&mut self.main.error, "");
                self.main.view.invalidate();
                self.main.window.show();
                self.shown = Shown::Main;
                for group in &self.model.groups {
                    self.net.send(Command::LoadGroup { gid: group.gid, group: group.name.clone() });
                }
                self.stalls.reset();
            }
            NetEvent::SignInFailed(text) => {
                if std::mem::take(&mut self.resuming) {
                    // The kept session is of no more use (dead token or gone broker): offer it no more.
                    self.remembered.session = None;
                    self.save_config();
                    self.offer_saved_session();
                }
                self.signin.set_busy(false);
                self.signup.set_busy(false);
                match self.shown {
                    Shown::SignUp => show_on(&mut self.signup.error, &text),
                    _ => show_on(&mut self.signin.error, &text),
                }
            }
            NetEvent::History { gid, messages, more } => {
                self.loading_older.remove(&gid);
                self.model.merge_history(gid, &messages, more);
            }
            NetEvent::Members { gid, members } => {
                self.model.set_members(gid, &members);
                if self.manage.group.as_ref().is_some_and(|g| g.0 == gid) {
                    if let Some(group) = self.model.group(gid) {
                        self.manage.fill(group);
                    }
                }
            }
            NetEvent::Groups(groups) => {
                for (gid, group) in self.model.set_groups(&groups) {
                    self.net.send(Command::LoadGroup { gid, group });
                }
                if let Some(group) = self.model.current_group() {
                    self.net.send(Command::Members { gid: group.gid, group: group.name.clone() });
                }
            }
            NetEvent::UserInfo(user) => {
                let state = if user.online { t!("gui.info.online") } else { t!("gui.info.offline") };
                let groups = user.groups.join(", ");
                let (name, login) = (&user.name, &user.login);
                let text = t!("gui.info.text", name = name, login = login, state = state, groups = groups);
                fltk::dialog::message_title(&t!("gui.info.title"));
                fltk::dialog::message_default(&text.replace('@', "@@"));
            }
            NetEvent::Client(event) => self.on_client_event(event),
            NetEvent::Sent => {
                if let Some(sent) = self.sent_text.take() {
                    if self.main.input.value() == sent {
                        self.main.input.set_value("");
                    }
                }
            }
            NetEvent::SendFailed(text) => {
                self.sent_text = None;
                show_on(&mut self.main.error, &text);
            }
            NetEvent::Renamed(me) => {
                self.model.renamed(me);
                self.waiting = None;
                show_on(&mut self.account.error, &t!("gui.account.saved"));
            }
            NetEvent::Done => self.on_done(),
            NetEvent::Failed(text) => {
                let waiting = self.waiting.take().unwrap_or(Waiting::Main);
                if let Some(frame) = self.error_frame(waiting) {
                    show_on(frame, &text);
                }
            }
            NetEvent::SignedOut { kept, reason } => {
                let login = self.model.me.as_ref().map(|m| m.login.clone());
                self.remembered.session = match (kept, login, self.forget_session) {
                    (Some((broker, token)), Some(login), false) => Some(SavedSession { broker, login, token }),
                    _ => None,
                };
                self.save_config();
                self.model.signed_out();
                self.show_sign_in(reason.as_deref());
            }
        }
    }

    fn on_done(&mut self) {
        match self.waiting.take() {
            Some(Waiting::Create) => self.create.window.hide(),
            Some(Waiting::Manage { closes }) => {
                self.manage.add_input.set_value("");
                if closes {
                    self.manage.window.hide();
                    self.manage.group = None;
                } else if let Some((gid, group)) = self.manage.group.clone() {
                    self.net.send(Command::Members { gid, group });
                }
            }
            Some(Waiting::Account) => {
                for input in [&mut self.account.old, &mut self.account.new, &mut self.account.again] {
                    input.set_value("");
                }
                show_on(&mut self.account.error, &t!("gui.account.saved"));
            }
            Some(Waiting::Main) | None => {}
        }
    }

    fn on_client_event(&mut self, event: ClientEvent) {
        match event {
            ClientEvent::Event(event) => match self.model.apply(&event) {
                FollowUp::Nothing => {}
                FollowUp::Subscribe { gid, group } => self.net.send(Command::LoadGroup { gid, group }),
                FollowUp::RefetchMembers(gid) => {
                    if let Some(group) = self.model.group(gid) {
                        self.net.send(Command::Members { gid, group: group.name.clone() });
                    }
                }
                FollowUp::SessionEnded(reason) => self.session_died(&end_reason_text(reason)),
                FollowUp::Resync => self.refetch(),
            },
            ClientEvent::ConnectionError(body) => show_on(&mut self.main.error, &code_text(body.code)),
            ClientEvent::Disconnected => self.model.disconnected(),
            ClientEvent::Reconnected { authenticated: true, broker, .. } => {
                self.model.reconnected(&broker);
                show_on(&mut self.main.error, "");
                self.refetch();
            }
            // Signed in no more: the saved token was refused on the new connection.
            ClientEvent::Reconnected { .. } => self.session_died(&code_text(joint_wire::ErrorCode::BadToken)),
            ClientEvent::SubscriptionLost { .. } => self.refetch(),
        }
    }

    /// Groups and the shown group's members, fetched again (after a reconnect or `resync`).
    fn refetch(&mut self) {
        self.net.send(Command::RefetchGroups);
    }

    fn session_died(&mut self, reason: &str) {
        self.forget_session = true;
        self.model.signed_out();
        self.show_sign_in(Some(reason));
        self.net.send(Command::Disconnect);
    }

    fn show_sign_in(&mut self, reason: Option<&str>) {
        self.close_dialogs();
        self.signup.window.hide();
        self.main.window.hide();
        self.signin.set_busy(false);
        if let Some(reason) = reason {
            show_on(&mut self.signin.error, reason);
        }
        self.offer_saved_session();
        self.signin.window.show();
        self.shown = Shown::SignIn;
    }

    fn offer_saved_session(&mut self) {
        let login = self.remembered.session.as_ref().map(|s| s.login.clone());
        self.signin.offer_continue(login.as_deref());
    }

    fn close_dialogs(&mut self) {
        self.create.window.hide();
        self.manage.window.hide();
        self.manage.group = None;
        self.account.window.hide();
    }

    fn set_language(&mut self, language: &'static str) {
        rust_i18n::set_locale(language);
        self.language = language;
        if self.remembered.language.as_deref() != Some(language) {
            self.remembered.language = Some(language.to_owned());
            self.save_config();
        }
        let index = LANGUAGES.iter().position(|l| *l == language).unwrap_or(0) as i32;
        // Sentences shown in the old language would stay so: clear them.
        for frame in [
            &mut self.signin.error,
            &mut self.signup.error,
            &mut self.main.error,
            &mut self.create.error,
            &mut self.manage.error,
            &mut self.account.error,
        ] {
            frame.set_label("");
        }
        self.signin.language.set_value(index);
        self.main.language.set_value(index);
        self.signin.relabel();
        self.signup.relabel();
        self.main.relabel();
        self.create.relabel();
        self.manage.relabel();
        self.account.relabel();
        self.main.update(&self.model, self.sent_text.is_some());
    }

    fn save_config(&mut self) {
        if let Err(err) = self.config.save(&self.remembered) {
            show_on(&mut self.signin.error, &t!("gui.err.config", detail = err.to_string()));
        }
    }

    fn write_dump(&mut self) {
        let Some(dump) = &self.dump else { return };
        let windows = [
            ("signin", crate::ui::window_id(&self.signin.window)),
            ("signup", crate::ui::window_id(&self.signup.window)),
            ("main", crate::ui::window_id(&self.main.window)),
            ("create", crate::ui::window_id(&self.create.window)),
            ("manage", crate::ui::window_id(&self.manage.window)),
            ("account", crate::ui::window_id(&self.account.window)),
        ];
        let errors = [
            ("signin", self.signin.error.label()),
            ("signup", self.signup.error.label()),
            ("main", self.main.error.label()),
            ("create", self.create.error.label()),
            ("manage", self.manage.error.label()),
            ("account", self.account.error.label()),
        ];
        dump.write(&crate::dump::State {
            shown: self.shown,
            language: self.language,
            windows: windows.into_iter().collect(),
            errors: errors.into_iter().collect(),
            model: &self.model,
            seqs: self.model.groups.iter().map(|g| (g.gid, g.seqs())).collect(),
            rendered: self.main.view.rendered(),
            input: self.main.input.value(),
            status: self.main.status_line(),
            stalls: self.stalls.stalls(),
            uptime_ms: self.stalls.uptime_ms(),
        });
    }
}

fn confirm(question: &str) -> bool {
    fltk::dialog::choice2_default(question, &t!("gui.no"), &t!("gui.yes"), "") == Some(1)
}
