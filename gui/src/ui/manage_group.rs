//! The manage-group dialog, for the group's admin: its members (remove one, hand the group
//! over to one), adding members, and deleting the group.

use super::{labelled, message_frame, Action, Msg, Rect, TEXT_SIZE};
use crate::model::GroupState;
use fltk::app::Sender;
use fltk::browser::HoldBrowser;
use fltk::button::Button;
use fltk::enums::{Align, Color, Font};
use fltk::frame::Frame;
use fltk::input::Input;
use fltk::prelude::*;
use fltk::window::Window;
use rust_i18n::t;

/// The dialog's size.
pub const SIZE: (i32, i32) = (500, 470);
/// The group's name.
pub const HEADING: Rect = (20, 10, 460, 28);
/// The members list.
pub const MEMBERS: Rect = (20, 46, 460, 190);
/// The Remove member button.
pub const REMOVE: Rect = (20, 244, 225, 32);
/// The Make admin button.
pub const HAND_OVER: Rect = (255, 244, 225, 32);
/// The logins-to-add input.
pub const ADD_INPUT: Rect = (20, 310, 330, 28);
/// The Add button.
pub const ADD: Rect = (360, 310, 120, 28);
/// The Delete group button.
pub const DELETE: Rect = (20, 356, 225, 34);
/// The Close button.
pub const CLOSE: Rect = (255, 356, 225, 34);
/// Where errors show.
pub const ERROR: Rect = (20, 400, 460, 60);

/// The dialog's widgets.
pub struct ManageGroupDialog {
    /// The window.
    pub window: Window,
    heading: Frame,
    /// The members; line n is `logins[n - 1]`.
    pub members: HoldBrowser,
    remove: Button,
    hand_over: Button,
    /// Logins to add.
    pub add_input: Input,
    add: Button,
    delete: Button,
    close: Button,
    /// Errors.
    pub error: Frame,
    /// The group shown.
    pub group: Option<(u64, String)>,
    /// The logins listed, in order.
    pub logins: Vec<String>,
}

impl ManageGroupDialog {
    /// Builds the dialog, hidden.
    pub fn build(sender: Sender<Msg>) -> ManageGroupDialog {
        let mut window = Window::new(240, 120, SIZE.0, SIZE.1, None);
        window.set_xclass("joint-gui");
        let mut heading = Frame::new(HEADING.0, HEADING.1, HEADING.2, HEADING.3, None);
        heading.set_align(Align::Inside | Align::Left | Align::Clip);
        heading.set_label_font(Font::HelveticaBold);
        heading.set_label_size(TEXT_SIZE + 2);
        let mut members = HoldBrowser::new(MEMBERS.0, MEMBERS.1, MEMBERS.2, MEMBERS.3, None);
        members.set_text_size(TEXT_SIZE);
        let button = |r: Rect, action: Action| {
            let mut b = Button::new(r.0, r.1, r.2, r.3, None);
            b.emit(sender, Msg::Ui(action));
            b
        };
        let remove = button(REMOVE, Action::RemoveMember);
        let hand_over = button(HAND_OVER, Action::HandOver);
        let add_input = labelled(Input::new(ADD_INPUT.0, ADD_INPUT.1, ADD_INPUT.2, ADD_INPUT.3, None));
        let add = button(ADD, Action::AddMembers);
        let mut delete = button(DELETE, Action::DeleteGroup);
        delete.set_label_color(Color::from_rgb(0xb0, 0x00, 0x20));
        let close = button(CLOSE, Action::CloseDialog);
        let error = message_frame(ERROR);
        window.end();
        window.emit(sender, Msg::Ui(Action::CloseDialog));
        let mut this = ManageGroupDialog {
            window,
            heading,
            members,
            remove,
            hand_over,
            add_input,
            add,
            delete,
            close,
            error,
            group: None,
            logins: Vec::new(),
        };
        this.relabel();
        this
    }

    /// Sets every label from the current language.
    pub fn relabel(&mut self) {
        self.window.set_label(&t!("gui.manage.title"));
        let name = self.group.as_ref().map(|g| g.1.clone()).unwrap_or_default();
        self.heading.set_label(&t!("gui.manage.heading", group = name.replace('@', "@@")));
        self.remove.set_label(&t!("gui.manage.remove"));
        self.hand_over.set_label(&t!("gui.manage.hand_over"));
        self.add_input.set_label(&t!("gui.manage.add_logins"));
        self.add.set_label(&t!("gui.manage.add"));
        self.delete.set_label(&t!("gui.manage.delete"));
        self.close.set_label(&t!("gui.close"));
        self.window.redraw();
    }

    /// Shows `group`'s members; the admin (the user) is listed but not selectable for actions.
    pub fn fill(&mut self, group: &GroupState) {
        self.group = Some((group.gid, group.name.clone()));
        let logins: Vec<String> = group.members.iter().map(|m| m.login.clone()).collect();
        if logins != self.logins || self.members.size() == 0 {
            let selected = self.members.value();
            self.members.clear();
            for m in &group.members {
                let admin = if group.admin.as_deref() == Some(m.login.as_str()) { " ★" } else { "" };
                self.members.add(&format!("{} ({}){admin}", m.name.replace('@', "@@"), m.login));
            }
            if selected > 0 && selected <= logins.len() as i32 {
                self.members.select(selected);
            }
            self.logins = logins;
        }
        self.relabel();
    }

    /// The login selected in the list, if any.
    pub fn selected(&self) -> Option<String> {
        let line = self.members.value();
        usize::try_from(line).ok().and_then(|l| l.checked_sub(1)).and_then(|i| self.logins.get(i).cloned())
    }
}
