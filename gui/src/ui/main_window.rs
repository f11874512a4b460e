//! The main window: who is signed in and the connection's state, the groups with unread
//! counts, the message view, the input box (Enter sends, Shift+Enter breaks the line), the
//! members with online dots, and the group and account controls.

use super::view::MessageView;
use super::{message_frame, Action, Msg, Rect, Screen, TEXT_SIZE};
use crate::i18n::LANGUAGE_NAMES;
use crate::model::{ChatModel, Connection};
use fltk::app::{self, Sender};
use fltk::browser::{Browser, HoldBrowser};
use fltk::button::Button;
use fltk::enums::{Align, Color, Event, Font, Key};
use fltk::frame::Frame;
use fltk::input::MultilineInput;
use fltk::menu::Choice;
use fltk::prelude::*;
use fltk::window::Window;
use rust_i18n::t;

/// The window's size.
pub const SIZE: (i32, i32) = (1000, 660);
/// Who is signed in and the connection's state.
pub const STATUS: Rect = (10, 8, 450, 28);
/// The language selector.
pub const LANGUAGE: Rect = (470, 8, 140, 28);
/// The Account button.
pub const ACCOUNT: Rect = (620, 6, 120, 32);
/// The Disconnect button.
pub const DISCONNECT: Rect = (745, 6, 120, 32);
/// The Log out button.
pub const LOG_OUT: Rect = (870, 6, 120, 32);
/// The groups list.
pub const GROUPS: Rect = (10, 68, 220, 510);
/// The New group button.
pub const NEW_GROUP: Rect = (10, 586, 220, 32);
/// The message view.
pub const VIEW: Rect = (240, 46, 520, 490);
/// The input box.
pub const INPUT: Rect = (240, 544, 420, 74);
/// The Send button.
pub const SEND: Rect = (670, 544, 90, 34);
/// Errors of the last request.
pub const ERROR: Rect = (240, 622, 750, 30);
/// The members list.
pub const MEMBERS: Rect = (770, 68, 220, 430);
/// The Manage group button.
pub const MANAGE: Rect = (770, 506, 220, 32);
/// The Leave group button.
pub const LEAVE: Rect = (770, 546, 220, 32);

/// The main window's widgets.
pub struct MainWindow {
    /// The window.
    pub window: Window,
    status: Frame,
    /// The language selector.
    pub language: Choice,
    account: Button,
    disconnect: Button,
    log_out: Button,
    groups_label: Frame,
    /// The groups list; line n is `model.groups[n - 1]`.
    pub groups: HoldBrowser,
    new_group: Button,
    /// The message view.
    pub view: MessageView,
    /// The text being written; kept while offline.
    pub input: MultilineInput,
    send: Button,
    /// Errors of the last request.
    pub error: Frame,
    members_label: Frame,
    /// The members list; line n is the current group's `members[n - 1]`.
    pub members: Browser,
    manage: Button,
    leave: Button,
}

impl MainWindow {
    /// Builds the window, hidden.
    pub fn build(sender: Sender<Msg>) -> MainWindow {
        let mut window = Window::new(60, 40, SIZE.0, SIZE.1, None);
        window.set_xclass("joint-gui");
        let mut status = Frame::new(STATUS.0, STATUS.1, STATUS.2, STATUS.3, None);
        status.set_align(Align::Inside | Align::Left | Align::Clip);
        // A box of its own, so a new label redraws just this frame, not the window.
        status.set_frame(fltk::enums::FrameType::FlatBox);
        status.set_label_font(Font::HelveticaBold);
        let mut language = Choice::new(LANGUAGE.0, LANGUAGE.1, LANGUAGE.2, LANGUAGE.3, None);
        for name in LANGUAGE_NAMES {
            language.add_choice(name);
        }
        language.emit(sender, Msg::Ui(Action::Language(Screen::Main)));
        let button = |r: Rect, action: Action| {
            let mut b = Button::new(r.0, r.1, r.2, r.3, None);
            b.emit(sender, Msg::Ui(action));
            b
        };
        let account = button(ACCOUNT, Action::ShowAccount);
        let disconnect = button(DISCONNECT, Action::Disconnect);
        let log_out = button(LOG_OUT, Action::LogOut);
        let mut groups_label = Frame::new(GROUPS.0, GROUPS.1 - 22, GROUPS.2, 20, None);
        groups_label.set_align(Align::Inside | Align::Left);
        groups_label.set_label_font(Font::HelveticaBold);
        let mut groups = HoldBrowser::new(GROUPS.0, GROUPS.1, GROUPS.2, GROUPS.3, None);
        groups.set_text_size(TEXT_SIZE);
        groups.emit(sender, Msg::Ui(Action::GroupChosen));
        let new_group = button(NEW_GROUP, Action::ShowCreateGroup);
        let view = MessageView::new(VIEW.0, VIEW.1, VIEW.2, VIEW.3);
        let mut input = MultilineInput::new(INPUT.0, INPUT.1, INPUT.2, INPUT.3, None);
        input.set_text_size(TEXT_SIZE);
        input.set_wrap(true);
        // Our handler first, so the input never sees the Enter that sends.
        input.super_handle_first(false);
        input.handle(move |_, event| {
            // Enter sends; Shift+Enter falls through to the input, which breaks the line.
            let enter = matches!(app::event_key(), Key::Enter | Key::KPEnter);
            if event == Event::KeyDown && enter && !app::is_event_shift() {
                sender.send(Msg::Ui(Action::Send));
                return true;
            }
            false
        });
        let send = button(SEND, Action::Send);
        let error = message_frame(ERROR);
        let mut members_label = Frame::new(MEMBERS.0, MEMBERS.1 - 22, MEMBERS.2, 20, None);
        members_label.set_align(Align::Inside | Align::Left);
        members_label.set_label_font(Font::HelveticaBold);
        let mut members = Browser::new(MEMBERS.0, MEMBERS.1, MEMBERS.2, MEMBERS.3, None);
        members.set_text_size(TEXT_SIZE);
        members.set_type(fltk::browser::BrowserType::Hold);
        members.set_callback(move |b| {
            if app::event_clicks() && b.value() > 0 {
                sender.send(Msg::Ui(Action::MemberInfo));
            }
        });
        let manage = button(MANAGE, Action::ShowManageGroup);
        let leave = button(LEAVE, Action::LeaveGroup);
        window.end();
        window.make_resizable(false);
        window.emit(sender, Msg::Ui(Action::Quit));
        let mut this = MainWindow {
            window,
            status,
            language,
            account,
            disconnect,
            log_out,
            groups_label,
            groups,
            new_group,
            view,
            input,
            send,
            error,
            members_label,
            members,
            manage,
            leave,
        };
        this.relabel();
        this
    }

    /// Sets every label from the current language.
    pub fn relabel(&mut self) {
        self.window.set_label(&t!("gui.main.title"));
        self.account.set_label(&t!("gui.main.account"));
        self.disconnect.set_label(&t!("gui.main.disconnect"));
        self.log_out.set_label(&t!("gui.main.log_out"));
        self.groups_label.set_label(&t!("gui.main.groups"));
        self.new_group.set_label(&t!("gui.main.new_group"));
        self.send.set_label(&t!("gui.main.send"));
        self.input.set_tooltip(&t!("gui.main.input_hint"));
        self.members_label.set_label(&t!("gui.main.members"));
        self.manage.set_label(&t!("gui.main.manage"));
        self.leave.set_label(&t!("gui.main.leave"));
        self.view.invalidate();
        self.window.redraw();
    }

    /// The status line's text, as shown.
    pub fn status_line(&self) -> String {
        self.status.label()
    }

    /// Redraws everything that follows the model: status, groups, members and the controls
    /// the user may use. `sending`: a message is out, so Send waits for the broker's answer.
    pub fn update(&mut self, model: &ChatModel, sending: bool) {
        let me = model.me.as_ref().map(|m| format!("{} ({})", m.name, m.login)).unwrap_or_default();
        let (state, color) = match model.connection {
            Connection::Online => match (&model.moved_from, &model.broker) {
                (Some(_), Some(broker)) => (t!("gui.main.moved", broker = broker), Color::from_rgb(0x1b, 0x7a, 0x2e)),
                _ => (t!("gui.main.online"), Color::from_rgb(0x1b, 0x7a, 0x2e)),
            },
            Connection::Reconnecting => (t!("gui.main.reconnecting"), Color::from_rgb(0xb0, 0x00, 0x20)),
            Connection::SignedOut => (t!("gui.main.offline"), Color::from_rgb(0x70, 0x70, 0x70)),
        };
        let status = format!("{me} — {state}");
        if self.status.label() != status || self.status.label_color() != color {
            self.status.set_label(&status);
            self.status.set_label_color(color);
            self.status.redraw();
        }

        let lines: Vec<String> = model
            .groups
            .iter()
            .map(|g| match g.unread() {
                0 => g.name.replace('@', "@@"),
                n => format!("@b{} ({n})", g.name.replace('@', "@@")),
            })
            .collect();
        replace_lines(&mut self.groups, &lines);
        let selected = model.current.and_then(|gid| model.groups.iter().position(|g| g.gid == gid));
        let line = selected.map_or(0, |i| i as i32 + 1);
        if self.groups.value() != line {
            self.groups.select(line);
        }

        let group = model.current_group();
        let members: Vec<String> = group
            .map(|g| {
                g.members
                    .iter()
                    .map(|m| {
                        // Browser format codes apply to the whole line: green when online.
                        let dot = if m.online { "@C60@.●" } else { "@C39@.○" };
                        let admin = if g.admin.as_deref() == Some(m.login.as_str()) { " ★" } else { "" };
                        format!("{dot}  {}{admin}", m.name)
                    })
                    .collect()
            })
            .unwrap_or_default();
        replace_lines(&mut self.members, &members);
        self.view.show(group);

        let online = model.connection == Connection::Online;
        let gid = model.current;
        set_active(&mut self.send, online && gid.is_some() && !sending);
        set_active(&mut self.new_group, online);
        set_active(&mut self.account, online);
        set_active(&mut self.disconnect, model.connection != Connection::SignedOut);
        // Controls the user may not use are hidden.
        let admin = gid.is_some_and(|g| model.is_admin(g));
        set_visible(&mut self.manage, admin);
        set_visible(&mut self.leave, gid.is_some_and(|g| model.may_leave(g)));
        set_active(&mut self.manage, online);
        set_active(&mut self.leave, online);
    }
}

/// Replaces a browser's lines only when they changed, so a selection and scroll survive.
fn replace_lines<B: BrowserExt>(browser: &mut B, lines: &[String]) {
    let same = browser.size() as usize == lines.len()
        && lines.iter().enumerate().all(|(i, l)| browser.text(i as i32 + 1).as_deref() == Some(l.as_str()));
    if same {
        return;
    }
    let selected = browser.value();
    browser.clear();
    for line in lines {
        browser.add(line);
    }
    if selected > 0 && selected <= lines.len() as i32 {
        browser.select(selected);
    }
}

fn set_active<W: WidgetExt>(widget: &mut W, active: bool) {
    if active {
        widget.activate();
    } else {
        widget.deactivate();
    }
}

fn set_visible<W: WidgetExt>(widget: &mut W, visible: bool) {
    if visible {
        widget.show();
    } else {
        widget.hide();
    }
}
